# Locates libtorch in the order the README documents, says which one it chose, and describes it:
#   1. $LIBTORCH: a libtorch root (unzipped libtorch) or the folder of a `torch` Python package;
#   2. the `torch` package of `python3` (torch.utils.cmake_prefix_path; ONESTEP_PYTHON names
#      another interpreter);
#   3. the system's (Debian's libtorch-dev puts TorchConfig.cmake on CMake's default path).
# Sets TORCH_LIBRARIES plus ONESTEP_TORCH_{VERSION,CUDA,CUDA_JSON,CUDA_LIBS,FLAVOUR,SOURCE,LIB_DIR}.

# native/tools/install.mjs looks for this marker to show the message alone, without CMake's trace.
set(ONESTEP_NO_LIBTORCH_MESSAGE "libtorch was not found. onestep looks for it in three places, in this order:
  1. LIBTORCH=/path/to/libtorch (an unzipped libtorch, or the folder of a `torch` Python package);
  2. the torch package of `python3` (pip install torch);
  3. the system's libtorch (Debian 12: apt-get install libtorch-dev).
Then rebuild: npm run rebuild:native")

function(_onestep_fail text)
  message(NOTICE "ONESTEP_ERROR_BEGIN\n${text}\nONESTEP_ERROR_END")
  message(FATAL_ERROR "onestep: libtorch not usable (see above)")
endfunction()

function(_onestep_torch_dir_in prefix out)
  foreach(candidate "${prefix}/share/cmake/Torch" "${prefix}/Torch" "${prefix}/lib/cmake/Torch")
    if(EXISTS "${candidate}/TorchConfig.cmake")
      set(${out} "${candidate}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} "" PARENT_SCOPE)
endfunction()

macro(onestep_find_libtorch)
  set(_torch_dir "")
  if(DEFINED ENV{LIBTORCH} AND NOT "$ENV{LIBTORCH}" STREQUAL "")
    _onestep_torch_dir_in("$ENV{LIBTORCH}" _torch_dir)
    if(NOT _torch_dir)
      _onestep_fail("LIBTORCH=$ENV{LIBTORCH} holds no share/cmake/Torch/TorchConfig.cmake.
Point it at an unzipped libtorch or at the folder of a torch Python package
(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))'), or unset it.")
    endif()
    set(ONESTEP_TORCH_SOURCE "LIBTORCH=$ENV{LIBTORCH}")
  endif()

  if(NOT _torch_dir)
    if(DEFINED ENV{ONESTEP_PYTHON})
      set(_python3 "$ENV{ONESTEP_PYTHON}")
    else()
      find_program(_python3 python3)
    endif()
    if(_python3 AND EXISTS "${_python3}")
      execute_process(COMMAND ${_python3} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
        OUTPUT_VARIABLE _py_prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _py_rc)
      if(_py_rc EQUAL 0 AND _py_prefix)
        _onestep_torch_dir_in("${_py_prefix}" _torch_dir)
        if(_torch_dir)
          set(ONESTEP_TORCH_SOURCE "python3's torch (${_py_prefix})")
        else()
          # Debian's python3-torch is one such: its CMake files live in libtorch-dev instead.
          message(STATUS "onestep: python3's torch has no CMake files at ${_py_prefix}; trying the system's libtorch")
        endif()
      endif()
    endif()
  endif()

  if(_torch_dir)
    set(Torch_DIR "${_torch_dir}" CACHE PATH "libtorch CMake config" FORCE)
    find_package(Torch REQUIRED CONFIG PATHS "${_torch_dir}" NO_DEFAULT_PATH)
  else()
    find_package(Torch CONFIG QUIET)
    if(NOT Torch_FOUND)
      _onestep_fail("${ONESTEP_NO_LIBTORCH_MESSAGE}")
    endif()
    set(ONESTEP_TORCH_SOURCE "the system's libtorch (${Torch_DIR})")
  endif()

  # TorchConfigVersion.cmake's version ("1.13.0", "2.11.0"); it matches TORCH_VERSION in C++.
  string(REGEX MATCH "^[0-9]+\\.[0-9]+\\.[0-9]+" ONESTEP_TORCH_VERSION "${Torch_VERSION}")
  if(NOT ONESTEP_TORCH_VERSION)
    _onestep_fail("could not read the libtorch version from ${Torch_DIR} (Torch_VERSION='${Torch_VERSION}')")
  endif()
  string(REGEX REPLACE "^([0-9]+)\\.([0-9]+).*" "\\1.\\2" _torch_mm "${ONESTEP_TORCH_VERSION}")

  get_filename_component(ONESTEP_TORCH_LIB_DIR "${TORCH_LIBRARY}" DIRECTORY)
  find_library(_torch_cuda_lib torch_cuda PATHS "${ONESTEP_TORCH_LIB_DIR}" NO_DEFAULT_PATH)
  find_library(_c10_cuda_lib c10_cuda PATHS "${ONESTEP_TORCH_LIB_DIR}" NO_DEFAULT_PATH)
  if(_torch_cuda_lib)
    set(ONESTEP_TORCH_CUDA ON)
    set(ONESTEP_TORCH_CUDA_LIBS ${_torch_cuda_lib} ${_c10_cuda_lib})
    set(_cuda_version "${CUDAToolkit_VERSION}")
    if(NOT _cuda_version)
      set(_cuda_version "${CUDA_VERSION}")
    endif()
    string(REGEX REPLACE "^([0-9]+)\\.([0-9]+).*" "\\1\\2" _cu "${_cuda_version}")
    set(ONESTEP_TORCH_CUDA_JSON "\"${_cuda_version}\"")
    set(ONESTEP_TORCH_FLAVOUR "torch${_torch_mm}-cu${_cu}")
  else()
    set(ONESTEP_TORCH_CUDA OFF)
    set(ONESTEP_TORCH_CUDA_JSON "false")
    set(ONESTEP_TORCH_FLAVOUR "torch${_torch_mm}-cpu")
  endif()
  message(STATUS "onestep: libtorch ${ONESTEP_TORCH_VERSION} (${ONESTEP_TORCH_FLAVOUR}) from ${ONESTEP_TORCH_SOURCE}")
endmacro()
