# cmake -DFLAGS_FILE=<failtest_flags.cmake> -DSOURCE=<file.cpp> -P run_failtest.cmake
# Passes when SOURCE fails to compile with a diagnostic containing its `// expect-error: <text>`.
cmake_minimum_required(VERSION 3.20)
include(${FLAGS_FILE})

file(STRINGS ${SOURCE} expect_lines REGEX "^// expect-error: ")
list(LENGTH expect_lines n_expect)
if(NOT n_expect EQUAL 1)
  message(FATAL_ERROR "${SOURCE}: needs exactly one '// expect-error: <text>' line, found ${n_expect}")
endif()
string(REGEX REPLACE "^// expect-error: " "" expected "${expect_lines}")
string(STRIP "${expected}" expected)

set(args ${FAILTEST_FLAGS})
foreach(dir IN LISTS FAILTEST_INCLUDES)
  # System directories stay implicit: -I/usr/include would break the C++ headers' #include_next.
  if(dir AND NOT dir IN_LIST FAILTEST_IMPLICIT_INCLUDES)
    list(APPEND args "-I${dir}")
  endif()
endforeach()
foreach(def IN LISTS FAILTEST_DEFINES)
  if(def)
    list(APPEND args "-D${def}")
  endif()
endforeach()

file(READ ${SOURCE} text)
if(text MATCHES "VAE_FAILTEST_CONTROL")
  execute_process(COMMAND ${FAILTEST_COMPILER} ${args} -DVAE_FAILTEST_CONTROL ${SOURCE}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "positive control (-DVAE_FAILTEST_CONTROL) of ${SOURCE} must compile but failed:\n${out}")
  endif()
  message(STATUS "positive control compiles")
endif()

execute_process(COMMAND ${FAILTEST_COMPILER} ${args} ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must fail with: ${expected}")
endif()
string(FIND "${out}" "${expected}" where)
if(where EQUAL -1)
  message(FATAL_ERROR "${SOURCE} failed to compile, but not with the expected error '${expected}'. Compiler output:\n${out}")
endif()
message(STATUS "rejected as expected: ${expected}")
