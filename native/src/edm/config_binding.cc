// Parses and checks a SongUNet config passed from JavaScript.
#include "config_binding.h"
#include "../convert.h"

#include <cmath>

namespace onestep::edm {
namespace {

int64_t IntField(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) ThrowTypeError(std::string("config.") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d != std::floor(d) || d > 1e6) ThrowValueError(std::string("config.") + key + " must be a non-negative integer");
  return static_cast<int64_t>(d);
}

std::vector<int64_t> IntList(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) ThrowTypeError(std::string("config.") + key + " must be an array of integers");
  return ParseShape(v, (std::string("config.") + key).c_str());
}

}  // namespace

SongUNetConfig ParseConfig(const Napi::Value& value) {
  if (!value.IsObject()) ThrowTypeError("config must be an object");
  Napi::Object o = value.As<Napi::Object>();
  SongUNetConfig c;
  c.img_resolution = IntField(o, "imgResolution");
  c.in_channels = IntField(o, "inChannels");
  c.out_channels = IntField(o, "outChannels");
  c.label_dim = IntField(o, "labelDim");
  c.augment_dim = IntField(o, "augmentDim");
  c.model_channels = IntField(o, "modelChannels");
  c.channel_mult = IntList(o, "channelMult");
  c.num_blocks = IntField(o, "numBlocks");
  c.attn_resolutions = IntList(o, "attnResolutions");
  c.channel_mult_emb = IntField(o, "channelMultEmb");
  Napi::Value dropout = o.Get("dropout");
  if (!dropout.IsNumber()) ThrowTypeError("config.dropout must be a number");
  c.dropout = dropout.As<Napi::Number>().DoubleValue();
  if (c.img_resolution < 4 || (c.img_resolution & (c.img_resolution - 1)) != 0) ThrowValueError("config.imgResolution must be a power of two ≥ 4");
  if (c.channel_mult.empty() || (c.img_resolution >> (c.channel_mult.size() - 1)) < 1) ThrowValueError("config.channelMult has too many levels for the resolution");
  if (c.model_channels < 8 || c.model_channels % 4 != 0) ThrowValueError("config.modelChannels must be a multiple of 4, at least 8");
  if (c.in_channels < 1 || c.out_channels < 1) ThrowValueError("config.inChannels and outChannels must be positive");
  if (!(c.dropout >= 0 && c.dropout < 1)) ThrowValueError("config.dropout must be in [0, 1)");
  return c;
}

}  // namespace onestep::edm

