/*
 * Optional C accelerator for the hot path of websocket_ref.
 *
 * apply_mask(data, mask) -> bytes: RFC 6455 §5.3 [R6455-5.3-1] masking, i.e. payload octet i XOR
 * mask octet (i modulo 4). The pure-Python version in masking.py does the same with
 * big integers, which costs several passes over the payload plus conversions; here
 * the payload is read once and written once, eight bytes at a time (the compiler
 * vectorizes the loop), so masking runs at about the speed of a memory copy.
 *
 * Nothing else lives here: every protocol decision stays in Python. If this module
 * can't be built (no compiler), masking.py falls back to pure Python.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* Payloads at least this large are masked with the GIL released: other threads
 * (e.g. another connection's reader) run meanwhile. Below it, releasing and
 * re-acquiring the GIL costs more than the XOR itself. */
#define RELEASE_GIL_THRESHOLD 65536

static void
xor_mask(const unsigned char *src, unsigned char *dst, Py_ssize_t size,
         const unsigned char key[4])
{
    uint32_t key32;
    uint64_t key64;
    Py_ssize_t i = 0;

    memcpy(&key32, key, 4);
    key64 = ((uint64_t)key32 << 32) | key32;

    /* Four 8-byte words per step; memcpy() keeps unaligned access well defined
     * and compiles to plain (vector) loads and stores. */
    for (; i + 32 <= size; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, src + i, 8);
        memcpy(&b, src + i + 8, 8);
        memcpy(&c, src + i + 16, 8);
        memcpy(&d, src + i + 24, 8);
        a ^= key64;
        b ^= key64;
        c ^= key64;
        d ^= key64;
        memcpy(dst + i, &a, 8);
        memcpy(dst + i + 8, &b, 8);
        memcpy(dst + i + 16, &c, 8);
        memcpy(dst + i + 24, &d, 8);
    }
    for (; i + 8 <= size; i += 8) {
        uint64_t a;
        memcpy(&a, src + i, 8);
        a ^= key64;
        memcpy(dst + i, &a, 8);
    }
    /* i is a multiple of 8 here, so the key's phase is back at octet 0. */
    for (; i < size; i++) {
        dst[i] = src[i] ^ key[i & 3];
    }
}

PyDoc_STRVAR(apply_mask_doc,
"apply_mask(data, mask, /) -> bytes\n"
"\n"
"Return data XORed with the 4-byte mask repeated over its length (RFC 6455 5.3).\n"
"data may be any object supporting the buffer protocol.");

static PyObject *
apply_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, mask;
    PyObject *result = NULL;
    unsigned char key[4];
    unsigned char *out;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "apply_mask() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &mask, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (mask.len != 4) {
        PyBuffer_Release(&mask);
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        return NULL;
    }
    memcpy(key, mask.buf, 4);
    PyBuffer_Release(&mask);

    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) == 0) {
        result = PyBytes_FromStringAndSize(NULL, data.len);
        if (result != NULL) {
            out = (unsigned char *)PyBytes_AS_STRING(result);
            /* The buffer export keeps a bytearray from being resized meanwhile. */
            if (data.len >= RELEASE_GIL_THRESHOLD) {
                Py_BEGIN_ALLOW_THREADS
                xor_mask((const unsigned char *)data.buf, out, data.len, key);
                Py_END_ALLOW_THREADS
            }
            else {
                xor_mask((const unsigned char *)data.buf, out, data.len, key);
            }
        }
        PyBuffer_Release(&data);
        return result;
    }
    if (!PyErr_ExceptionMatches(PyExc_BufferError)) {
        return NULL;
    }
    /* A non-contiguous buffer (e.g. a strided memoryview): gather it into the
     * result first, then mask in place. */
    PyErr_Clear();
    if (PyObject_GetBuffer(args[0], &data, PyBUF_FULL_RO) < 0) {
        return NULL;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL) {
        out = (unsigned char *)PyBytes_AS_STRING(result);
        if (PyBuffer_ToContiguous(out, &data, data.len, 'C') < 0) {
            Py_CLEAR(result);
        }
        else {
            xor_mask(out, out, data.len, key);
        }
    }
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     apply_mask_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot speedups_slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "websocket_ref._speedups",
    "C accelerator for websocket_ref's hot path (masking).",
    0,
    speedups_methods,
    speedups_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
