/* The listener fan-out loop in C: one call per room per packet, no Python per listener.
 *
 * podium.media.fastpath keeps every listener's send state in one table (a bytearray of
 * `row_t`, layout mirrored by fastpath.ROW) and passes it here with the slots to send to.
 * Per slot: the 12-byte RTP header, the payload copied after it, libsrtp's srtp_protect
 * (called through the address pylibsrtp's cffi module exports, so nothing links against
 * libsrtp here) and one send(2) on the listener's own duplicate of its ICE socket. The
 * sequence number and counters are updated in the table. The GIL is released for the loop.
 *
 * Built by setup.py as an optional extension: without a C compiler, fastpath falls back to
 * the same loop in Python (about 2-3 us more per packet).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_PACKET 1400
#define SRTP_TRAILER 144

typedef struct {
    int64_t min_pos;  /* packets before this room-clock position are skipped */
    int64_t last_pos; /* position of the last packet sent */
    uint64_t ctx;     /* libsrtp srtp_t */
    uint32_t ssrc;
    uint32_t packets;
    uint32_t octets;
    int32_t fd; /* -1: not sendable from C (relay, no socket) */
    uint16_t seq;
    uint8_t pt;
    uint8_t pad[5];
} row_t;

_Static_assert(sizeof(row_t) == 48, "row_t must match fastpath.ROW");

typedef int (*protect_fn)(void *ctx, void *buf, int *len);

static PyObject *fan_out(PyObject *self, PyObject *args) {
    Py_buffer table, slots, payload;
    long long pos;
    unsigned long long fn_addr;
    if (!PyArg_ParseTuple(args, "w*y*y*LK", &table, &slots, &payload, &pos, &fn_addr))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t rows = table.len / (Py_ssize_t)sizeof(row_t);
    Py_ssize_t count = slots.len / (Py_ssize_t)sizeof(int32_t);
    if (payload.len + 12 > MAX_PACKET || fn_addr == 0 || slots.len % sizeof(int32_t)) {
        PyErr_SetString(PyExc_ValueError, "bad payload size, slots or protect function");
        goto done;
    }
    const int32_t *index = (const int32_t *)slots.buf;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (index[i] < 0 || index[i] >= rows) {
            PyErr_SetString(PyExc_IndexError, "slot out of range");
            goto done;
        }
    }
    protect_fn protect = (protect_fn)(uintptr_t)fn_addr;
    row_t *base = (row_t *)table.buf;
    const uint8_t *data = (const uint8_t *)payload.buf;
    int size = (int)payload.len;
    uint32_t ts = (uint32_t)(pos & 0xFFFFFFFF);
    long sent = 0;
    Py_BEGIN_ALLOW_THREADS
    uint8_t buf[MAX_PACKET + SRTP_TRAILER];
    for (Py_ssize_t i = 0; i < count; i++) {
        row_t *row = &base[index[i]];
        if (pos < row->min_pos || row->fd < 0 || row->ctx == 0)
            continue;
        uint16_t seq = row->seq;
        row->seq = (uint16_t)(seq + 1);
        buf[0] = 0x80;
        buf[1] = row->pt & 0x7F;
        buf[2] = (uint8_t)(seq >> 8);
        buf[3] = (uint8_t)seq;
        buf[4] = (uint8_t)(ts >> 24);
        buf[5] = (uint8_t)(ts >> 16);
        buf[6] = (uint8_t)(ts >> 8);
        buf[7] = (uint8_t)ts;
        buf[8] = (uint8_t)(row->ssrc >> 24);
        buf[9] = (uint8_t)(row->ssrc >> 16);
        buf[10] = (uint8_t)(row->ssrc >> 8);
        buf[11] = (uint8_t)row->ssrc;
        memcpy(buf + 12, data, (size_t)size);
        int length = size + 12;
        if (protect((void *)(uintptr_t)row->ctx, buf, &length) != 0)
            continue; /* libsrtp refused (never seen): drop this one packet */
        if (send(row->fd, buf, (size_t)length, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            continue; /* full buffer, refused (ICMP), gone: dropped as UDP would */
        row->packets++;
        row->octets += (uint32_t)size;
        row->last_pos = pos;
        sent++;
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromLong(sent);
done:
    PyBuffer_Release(&table);
    PyBuffer_Release(&slots);
    PyBuffer_Release(&payload);
    return result;
}

static PyMethodDef methods[] = {
    {"fan_out", fan_out, METH_VARARGS,
     "fan_out(table, slots, payload, pos, protect_addr) -> packets sent"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fanout", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fanout(void) { return PyModule_Create(&module); }
