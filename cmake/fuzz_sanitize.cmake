# fuzz_sanitize.cmake - reliability builds (issue 4).
#   PEFTUI_SANITIZE=ON  every target built and linked with ASan + UBSan.
#   PEFTUI_TSAN=ON      every target built and linked with ThreadSanitizer
#                       (issue 9: the workspace's threads; see scripts/test_tsan.sh).
#   PEFTUI_FUZZ=ON      (clang only) libFuzzer harnesses tests/fuzz/fuzz_*.c,
#                       linked against a separately instrumented engine library.
# Included at the end of the top-level CMakeLists.txt, after all targets exist.

option(PEFTUI_SANITIZE "Build every target with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(PEFTUI_FUZZ "Build the libFuzzer harnesses fuzz_<parser> (clang only)" OFF)

# float-cast-overflow by name: GCC leaves it out of -fsanitize=undefined, and a
# float read from a file cast to an integer out of range is exactly what a
# crafted file does (tests/data/fuzz-regressions/gguf/token-type-float-out-of-range).
set(PT_SAN_FLAGS -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined,float-cast-overflow)

if(PEFTUI_SANITIZE)
  get_property(_pt_targets DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(_t ${_pt_targets})
    get_target_property(_type ${_t} TYPE)
    if(_type STREQUAL "STATIC_LIBRARY" OR _type STREQUAL "EXECUTABLE")
      # C and C++ only: nvcc would reject these flags on CUDA sources.
      target_compile_options(${_t} PRIVATE "$<$<COMPILE_LANGUAGE:C,CXX>:${PT_SAN_FLAGS};-g>")
      target_link_options(${_t} PRIVATE ${PT_SAN_FLAGS})
    endif()
  endforeach()
  message(STATUS "PEFTUI_SANITIZE: ASan + UBSan on ${_pt_targets}")
endif()

if(PEFTUI_TSAN)
  if(PEFTUI_SANITIZE)
    message(FATAL_ERROR "PEFTUI_TSAN and PEFTUI_SANITIZE cannot be combined (ThreadSanitizer excludes ASan); use two build folders.")
  endif()
  get_property(_pt_targets DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(_t ${_pt_targets})
    get_target_property(_type ${_t} TYPE)
    if(_type STREQUAL "STATIC_LIBRARY" OR _type STREQUAL "EXECUTABLE")
      target_compile_options(${_t} PRIVATE "$<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=thread;-fno-omit-frame-pointer;-g>")
      target_link_options(${_t} PRIVATE -fsanitize=thread)
    endif()
  endforeach()
  message(STATUS "PEFTUI_TSAN: ThreadSanitizer on ${_pt_targets}")
endif()

if(PEFTUI_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PEFTUI_FUZZ=ON needs clang (libFuzzer); configure with CC=clang "
                        "(this compiler is ${CMAKE_C_COMPILER_ID}).")
  endif()
  set(PT_FUZZ_LIB_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                        -fno-sanitize-recover=undefined -g)
  # The engine again, instrumented for coverage and sanitizers.
  add_library(peftui_engine_fuzz STATIC ${PT_ENGINE_SRC})
  target_include_directories(peftui_engine_fuzz PUBLIC src/engine src ${CBLAS_INCLUDE})
  target_compile_options(peftui_engine_fuzz PRIVATE ${PT_WARN} ${PT_ARCH} ${PT_FUZZ_LIB_FLAGS})
  target_compile_definitions(peftui_engine_fuzz PUBLIC PEFTUI_PROMPTS_DIR="${CMAKE_SOURCE_DIR}/prompts"
                             PEFTUI_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  target_link_libraries(peftui_engine_fuzz PUBLIC PkgConfig::PCRE2 PkgConfig::CJSON ${UNISTRING_LIB} ${OPENBLAS_LIB}
                        OpenMP::OpenMP_C m pthread)
  file(GLOB PT_FUZZERS CONFIGURE_DEPENDS tests/fuzz/fuzz_*.c)
  foreach(f ${PT_FUZZERS})
    get_filename_component(name ${f} NAME_WE)
    add_executable(${name} ${f})
    target_compile_options(${name} PRIVATE ${PT_WARN} -fsanitize=fuzzer,address,undefined
                           -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g)
    target_compile_definitions(${name} PRIVATE PT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${name} PRIVATE peftui_engine_fuzz)
  endforeach()
  message(STATUS "PEFTUI_FUZZ: ${PT_FUZZERS}")
endif()
