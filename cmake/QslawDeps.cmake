# Every dependency is a Debian package found on the system; nothing is
# vendored or downloaded. ./qslaw installs what is missing.
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(fmt REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C CXX)
find_package(doctest REQUIRED)
find_package(ZLIB REQUIRED)  # the gzip/dictzip English sources (data/english.cpp)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)  # SHA-256 of cached artifacts (engine/io/checksum.h)
# LLaMA-2's and Vicuna's tokenizer.model (data/sentencepiece_tokenizer.cpp).
find_package(PkgConfig REQUIRED)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)  # tokenizer.json split patterns (\p{L}, look-ahead)

# Debian's libstb ships the stb implementations compiled (libstb.so).
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)
find_library(STB_LIBRARY stb REQUIRED)
add_library(qs_stb INTERFACE)
target_include_directories(qs_stb SYSTEM INTERFACE ${STB_INCLUDE_DIR})
target_link_libraries(qs_stb INTERFACE ${STB_LIBRARY})

# HDF5's CMake config differs between distributions; wrap what FindHDF5 gives.
add_library(qs_hdf5 INTERFACE)
target_include_directories(qs_hdf5 SYSTEM INTERFACE ${HDF5_INCLUDE_DIRS})
target_link_libraries(qs_hdf5 INTERFACE ${HDF5_CXX_LIBRARIES} ${HDF5_LIBRARIES})
target_compile_definitions(qs_hdf5 INTERFACE ${HDF5_DEFINITIONS})

set(QSLAW_WITH_CUDA OFF)
if(NOT QSLAW_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # A100 (sm_80) and H100/H200 (sm_90); others with -DCMAKE_CUDA_ARCHITECTURES.
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    # CMake 3.25 does not know nvcc 13's C++20 flag; CUDA sources keep to C++17.
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    find_package(CUDAToolkit REQUIRED)
    set(QSLAW_WITH_CUDA ON)
  elseif(QSLAW_CUDA STREQUAL "ON")
    message(FATAL_ERROR "QSLAW_CUDA=ON but no CUDA compiler (nvcc) was found; set CUDACXX or use QSLAW_CUDA=AUTO")
  endif()
endif()

# Data parallel training across processes (engine/dist): Open MPI, Debian's
# libopenmpi-dev. Without it qslaw runs as one process.
set(QSLAW_MPI AUTO CACHE STRING "Build the MPI process groups: AUTO (when MPI is found), ON or OFF")
set(QSLAW_WITH_MPI OFF)
if(NOT QSLAW_MPI STREQUAL "OFF")
  find_package(MPI COMPONENTS CXX QUIET)
  if(MPI_CXX_FOUND)
    set(QSLAW_WITH_MPI ON)
  elseif(QSLAW_MPI STREQUAL "ON")
    message(FATAL_ERROR "QSLAW_MPI=ON but no MPI was found (apt-get install libopenmpi-dev)")
  endif()
endif()
