# One place for compiler warnings; every target in the tree uses them and
# they are errors. (Habit from curl's CMake/PickyWarnings.cmake.)
set(CERTPIN_WARNINGS
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
    -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wcast-qual
    -Wundef -Wvla -Wwrite-strings -Wpointer-arith -Werror)

function(certpin_warnings target)
  target_compile_options(${target} PRIVATE ${CERTPIN_WARNINGS})
endfunction()
