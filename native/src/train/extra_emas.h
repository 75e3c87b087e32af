// More EMAs of one network, each at its own half-life, beside a trainer's main EMA: one run then
// shows several EMA lengths at once (the best one is found by trying, as in EDM2). Shared by the
// DiJS and teacher trainers; the modules are JavaScript-owned EDM networks of the trained shape.
#pragma once
#include "../edm/songunet.h"
#include "optim.h"

#include <memory>
#include <vector>

namespace onestep::train {

// EDM's rule: with `rampup_ratio` > 0 the half-life is at most that fraction of the images seen.
double RampedHalfLife(double halflife_images, double images_seen, double rampup_ratio);

class ExtraEmas {
 public:
  // `value`: [{ module, halfLifeImages }] from JavaScript, or nullish for none. Each module must be
  // on `device` with `numel` parameters (the trained network's); it is flattened in place.
  void Parse(const Napi::Value& value, const c10::Device& device, int64_t numel);
  size_t size() const { return emas_.size(); }
  // The weights 1 − β of this iteration's updates, in order (uploaded with a step's other factors).
  std::vector<double> Weights(double batch, double images_seen, double rampup_ratio) const;
  // Every extra EMA one step towards `net`, with weights from the host or from `factors[offset + i]`.
  void Update(const FlatParameters& net, double batch, double images_seen, double rampup_ratio);
  void Update(const FlatParameters& net, const at::Tensor& factors, int64_t offset);
  void Clear() { emas_.clear(); }

 private:
  struct Ema {
    edm::EDMPrecond module{nullptr};
    double halflife_images = 0;
    std::unique_ptr<FlatParameters> flat;
  };
  std::vector<Ema> emas_;
};

}  // namespace onestep::train
