/*
 * Optional C accelerator for the hot path of websocket_ref.
 *
 * apply_mask(data, mask) -> bytes: RFC 6455 §5.3 [R6455-5.3-1] masking, i.e. payload octet i XOR
 * mask octet (i modulo 4). The pure-Python version in masking.py does the same with
 * big integers, which costs several passes over the payload plus conversions; here
 * the payload is read once and written once, eight bytes at a time (the compiler
 * vectorizes the loop), so masking runs at about the speed of a memory copy.
 *
 * socket_recv(fd, buffer) -> bytes and socket_send(fd, data) -> int (POSIX only): the
 * system calls of a non-blocking socket's recv_into() + copy and send(), for the asyncio
 * connection's direct reads and writes on asyncio's own TCP transport. The socket
 * module's methods parse their arguments generically (recv_into() with the keywords
 * parser) and release and re-acquire the GIL around each call; a non-blocking call
 * doesn't wait, so here small ones keep the GIL, like picows' transport.
 *
 * Nothing else lives here: every protocol decision stays in Python. If this module
 * can't be built (no compiler), masking.py and the asyncio connection fall back to
 * pure Python (masking.py, the socket module's methods).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#ifndef _WIN32
#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>
#define HAVE_SOCKET_CALLS 1
#endif

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

#ifdef HAVE_SOCKET_CALLS
PyDoc_STRVAR(socket_recv_doc,
"socket_recv(fd, buffer, /) -> bytes\n"
"\n"
"Receive into buffer (writable, e.g. a memoryview of a bytearray) from the\n"
"non-blocking socket fd what one recv() gives, and return a copy of it: b'' at EOF.\n"
"Raise OSError as socket.recv_into() does (BlockingIOError when nothing is there).");

static PyObject *
socket_recv(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer buffer;
    PyObject *result;
    ssize_t n;
    long fd;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "socket_recv() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &buffer, PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    for (;;) {
        /* The socket is non-blocking: recv() returns at once, with the GIL held. */
        n = recv((int)fd, buffer.buf, (size_t)buffer.len, 0);
        if (n >= 0) {
            break;
        }
        /* As the socket module does: retry after a signal, unless its handler raised. */
        if (errno != EINTR || PyErr_CheckSignals() < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetFromErrno(PyExc_OSError);
            }
            PyBuffer_Release(&buffer);
            return NULL;
        }
    }
    result = PyBytes_FromStringAndSize((const char *)buffer.buf, (Py_ssize_t)n);
    PyBuffer_Release(&buffer);
    return result;
}

PyDoc_STRVAR(socket_send_doc,
"socket_send(fd, data, /) -> int\n"
"\n"
"Send what the non-blocking socket fd takes of data (any contiguous buffer) with one\n"
"send(), and return how many bytes it took. Raise OSError as socket.send() does\n"
"(BlockingIOError when it takes nothing).");

static PyObject *
socket_send(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    ssize_t n;
    long fd;
    int saved;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "socket_send() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    for (;;) {
        /* Large writes copy much into the kernel: other threads run meanwhile. */
        if (data.len >= RELEASE_GIL_THRESHOLD) {
            Py_BEGIN_ALLOW_THREADS
            n = send((int)fd, data.buf, (size_t)data.len, 0);
            saved = errno;
            Py_END_ALLOW_THREADS
            errno = saved;
        }
        else {
            n = send((int)fd, data.buf, (size_t)data.len, 0);
        }
        if (n >= 0) {
            break;
        }
        if (errno != EINTR || PyErr_CheckSignals() < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetFromErrno(PyExc_OSError);
            }
            PyBuffer_Release(&data);
            return NULL;
        }
    }
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t((Py_ssize_t)n);
}
#endif

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     apply_mask_doc},
#ifdef HAVE_SOCKET_CALLS
    {"socket_recv", (PyCFunction)(void (*)(void))socket_recv, METH_FASTCALL,
     socket_recv_doc},
    {"socket_send", (PyCFunction)(void (*)(void))socket_send, METH_FASTCALL,
     socket_send_doc},
#endif
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
    "C accelerator for websocket_ref's hot path (masking, socket calls).",
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
