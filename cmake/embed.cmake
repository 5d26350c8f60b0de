# SPDX-License-Identifier: Apache-2.0
# Turns a text file into a C++ header holding it as one string constant: the inspector's page is
# compiled into the binary (no files to install, nothing fetched at run time).
# cmake -DIN=page.html -DOUT=page.hpp -DNAME=k_page -P embed.cmake
file(READ "${IN}" content)
string(FIND "${content}" ")vfembed\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} holds the raw-string delimiter )vfembed\"")
endif()
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by cmake/embed.cmake: do not edit.\n#pragma once\n\ninline constexpr const char* ${NAME} = R\"vfembed(${content})vfembed\";\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
