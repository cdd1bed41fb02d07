# The CUDA backend: option VAE_WITH_CUDA (on when nvcc is found), target vae_cuda, and tests/cuda/*.cu
# (label "cuda", exit 77 = skipped when no device). A CPU-only build never looks for more than check_language.
include(CheckLanguage)
check_language(CUDA)
if(CMAKE_CUDA_COMPILER)
  set(_vae_cuda_default ON)
else()
  set(_vae_cuda_default OFF)
endif()
option(VAE_WITH_CUDA "Build the CUDA backend (vae_cuda) and its tests; needs nvcc" ${_vae_cuda_default})

if(VAE_WITH_CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR "VAE_WITH_CUDA=ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER or put nvcc on PATH)")
  endif()
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "90-real;90-virtual")  # sm_90 code plus compute_90 PTX for newer GPUs
  endif()
  enable_language(CUDA)
  # CMake < 3.26 does not know nvcc's C++20 flag; teach it (set after enable_language, whose own
  # compiler checks would otherwise already ask for a dialect this CMake cannot spell).
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  if(NOT DEFINED CMAKE_CUDA_STANDARD)
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  endif()
  find_package(CUDAToolkit REQUIRED)

  # Usage requirements for code that uses backend cuda (compile it as .cu with nvcc).
  add_library(vae_cuda INTERFACE)
  add_library(vae::cuda ALIAS vae_cuda)
  target_link_libraries(vae_cuda INTERFACE vae::vae CUDA::cublas CUDA::cudart)
  target_compile_definitions(vae_cuda INTERFACE VAE_WITH_CUDA)
  # OpenMP's imported target adds -fopenmp for CXX only; give the host side of .cu files the same, so the
  # cpu reference kernels inside them behave (and pick the same ABI namespace) as in .cpp files.
  if(OpenMP_CXX_FOUND)
    target_compile_options(vae_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-fopenmp>)
  endif()
  # nvcc's front end notes about Eigen's defaulted __host__ __device__ members and `module` as an identifier:
  # harmless, and they would bury real warnings.
  target_compile_options(vae_cuda INTERFACE
    $<$<COMPILE_LANGUAGE:CUDA>:-diag-suppress=20012,3189>)
  # core/rng.hpp's Philox (shared by host and device) indexes std::array, whose constexpr members carry no
  # __device__: nvcc accepts those calls in device code only with relaxed constexpr.
  target_compile_options(vae_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr>)

  if(VAE_BUILD_TESTS)
    find_package(doctest REQUIRED)  # tests/ found it in its own directory scope
    add_library(vae_cuda_test_main STATIC ${CMAKE_CURRENT_SOURCE_DIR}/tests/cuda/main.cu)
    target_link_libraries(vae_cuda_test_main PUBLIC vae_cuda doctest::doctest)
    file(GLOB vae_cuda_test_sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/cuda/*.cu)
    list(FILTER vae_cuda_test_sources EXCLUDE REGEX "/main\\.cu$")
    foreach(src IN LISTS vae_cuda_test_sources)
      get_filename_component(name ${src} NAME_WE)
      set(target test_cuda_${name})
      add_executable(${target} ${src})
      target_link_libraries(${target} PRIVATE vae_cuda_test_main)
      target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
      add_test(NAME cuda/${name} COMMAND ${target})
      set_tests_properties(cuda/${name} PROPERTIES LABELS cuda SKIP_RETURN_CODE 77)
    endforeach()
    # The kernels' indexing and reductions emulated on the host (no GPU needed; python3 + g++, ~1 min).
    add_test(NAME cuda-emulation COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tests/cuda/emulation/run.sh)
    set_tests_properties(cuda-emulation PROPERTIES LABELS "cuda-emulation;slow")
  endif()
endif()
