/* A one-rank stand-in for libnccl.so.2 with the same C signatures, so that
 * the Go binding's argument passing (the 128-byte ncclUniqueId by value,
 * size_t counts, enums, the stream) is checked without a GPU. "Device"
 * pointers are host memory here. Built by nccl_test.go with gcc. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char internal[128]; } ncclUniqueId;
typedef struct { int magic; void *last_stream; } *ncclComm_t;

#define FAKE_MAGIC 0x6e63636c
#define FAKE_STREAM ((void *)0x5151)
/* A count of 13 makes the collectives fail, to test error messages. */
#define FAIL_COUNT 13

static const char *names[] = {"no error", "unhandled cuda error", "unhandled system error",
	"internal error", "invalid argument", "invalid usage", "remote process exited or there was a network error",
	"NCCL operation in progress"};

int ncclGetVersion(int *v) { *v = 22304; return 0; }

int ncclGetUniqueId(ncclUniqueId *id) {
	for (int i = 0; i < 128; i++) id->internal[i] = (char)(i * 7 + 3);
	return 0;
}

int ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank) {
	for (int i = 0; i < 128; i++)
		if (id.internal[i] != (char)(i * 7 + 3)) return 4;
	if (nranks != 1 || rank != 0) return 4;
	*comm = calloc(1, sizeof(**comm));
	(*comm)->magic = FAKE_MAGIC;
	return 0;
}

static int check(ncclComm_t comm, int dt, void *stream, size_t count) {
	if (comm == NULL || comm->magic != FAKE_MAGIC) return 4;
	if (dt != 7 /* ncclFloat32 */ || stream != FAKE_STREAM) return 4;
	if (count == FAIL_COUNT) return 3;
	return 0;
}

int ncclAllReduce(const void *send, void *recv, size_t count, int dt, int op, ncclComm_t comm, void *stream) {
	int r = check(comm, dt, stream, count);
	if (r) return r;
	if (op != 0 /* ncclSum */) return 4;
	memmove(recv, send, count * 4);
	return 0;
}

int ncclReduceScatter(const void *send, void *recv, size_t count, int dt, int op, ncclComm_t comm, void *stream) {
	return ncclAllReduce(send, recv, count, dt, op, comm, stream);
}

int ncclAllGather(const void *send, void *recv, size_t count, int dt, ncclComm_t comm, void *stream) {
	int r = check(comm, dt, stream, count);
	if (r) return r;
	memmove(recv, send, count * 4);
	return 0;
}

int ncclBroadcast(const void *send, void *recv, size_t count, int dt, int root, ncclComm_t comm, void *stream) {
	int r = check(comm, dt, stream, count);
	if (r) return r;
	if (root != 0) return 4;
	memmove(recv, send, count * 4);
	return 0;
}

int ncclCommGetAsyncError(ncclComm_t comm, int *r) { *r = 0; return comm && comm->magic == FAKE_MAGIC ? 0 : 4; }
int ncclCommDestroy(ncclComm_t comm) { if (!comm || comm->magic != FAKE_MAGIC) return 4; comm->magic = 0; free(comm); return 0; }
int ncclCommAbort(ncclComm_t comm) { return ncclCommDestroy(comm); }
const char *ncclGetErrorString(int r) { return r >= 0 && r < 8 ? names[r] : "unknown result"; }
const char *ncclGetLastError(ncclComm_t comm) { return "fake detail"; }
