# cmake -DVAE_BUILD_DIR=... -DCONSUMER_SOURCE_DIR=... -DWORK_DIR=... -P run_consumer.cmake
# install → configure a consumer with CMAKE_PREFIX_PATH=<prefix> → build → run.
cmake_minimum_required(VERSION 3.20)
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message(STATUS "${what}:\n${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test: '${what}' failed (exit ${rc})")
  endif()
endfunction()

set(prefix ${WORK_DIR}/prefix)
set(build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})

step("install" ${CMAKE_COMMAND} --install ${VAE_BUILD_DIR} --prefix ${prefix})
if(NOT EXISTS ${prefix}/include/vae/layers/linear.hpp)
  message(FATAL_ERROR "install did not place include/vae/layers/linear.hpp under ${prefix}")
endif()
step("configure" ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${build} -G ${CONSUMER_GENERATOR}
     -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix})
step("build" ${CMAKE_COMMAND} --build ${build})
step("run" ${build}/app)
