"""cffi API (out-of-line) build script of the HYMOD kernel (``native/hymod``).

meson runs ``python _build_hymod.py OUTPUT.c``: it writes the C source of the extension
``pdaframe_hymod._hymod_cffi`` (`cffi.FFI.emit_c_code`), which meson compiles together with
``native/hymod/hymod.c``. The declarations below mirror ``native/hymod/hymod.h``.
"""
import sys

from cffi import FFI

CDEF = """
#define HYMOD_OK 0
#define HYMOD_ERR_SIZE 1
#define HYMOD_ERR_FORCING 2
#define HYMOD_ERR_PARAM 3
#define HYMOD_NPARAM 5
#define HYMOD_NOUT 6
#define HYMOD_MSG_LEN 160

typedef struct {
    int status;
    int index;
    double value;
    char message[160];
} hymod_error;

int hymod_run(int n, const double *precip, const double *pet, const double *theta,
              double *out, hymod_error *err);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("pdaframe_hymod._hymod_cffi", '#include "hymod.h"')

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python _build_hymod.py OUTPUT.c")
    ffibuilder.emit_c_code(sys.argv[1])
