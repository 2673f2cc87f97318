// Thin C helpers for the Swift Transport module.
// Swift cannot see function-like macros (GRPC_SLICE_START_PTR...) nor build
// the grpc_arg unions comfortably, so those live here as static inline code.
#ifndef CGRPC_SHIM_H
#define CGRPC_SHIM_H

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdint.h>
#include <string.h>

static inline const uint8_t *cgrpc_slice_start(const grpc_slice *s) {
  return GRPC_SLICE_START_PTR(*s);
}

static inline size_t cgrpc_slice_length(const grpc_slice *s) {
  return GRPC_SLICE_LENGTH(*s);
}

/// Copies a whole byte buffer into `dst` with one memcpy per slice.
/// Returns the uncompressed length, or -1 if the buffer can't be read
/// (e.g. undecodable compression). `dst` may be NULL to only get the length;
/// it must otherwise have room for the returned length.
static inline int64_t cgrpc_byte_buffer_copy(grpc_byte_buffer *bb, uint8_t *dst) {
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, bb)) return -1;
  grpc_slice s;
  int64_t off = 0;
  while (grpc_byte_buffer_reader_next(&reader, &s)) {
    size_t n = GRPC_SLICE_LENGTH(s);
    if (dst != NULL && n > 0) memcpy(dst + off, GRPC_SLICE_START_PTR(s), n);
    off += (int64_t)n;
    grpc_slice_unref(s);
  }
  grpc_byte_buffer_reader_destroy(&reader);
  return off;
}

/// True when the buffer is a plain uncompressed buffer, so that
/// grpc_byte_buffer_length() is the payload length.
static inline int cgrpc_byte_buffer_is_plain(const grpc_byte_buffer *bb) {
  return bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE;
}

/// Builds a raw byte buffer holding one copy of `len` bytes.
static inline grpc_byte_buffer *cgrpc_byte_buffer_from_bytes(const uint8_t *bytes, size_t len) {
  grpc_slice s = grpc_slice_malloc(len);
  if (len > 0) memcpy(GRPC_SLICE_START_PTR(s), bytes, len);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

/// GRPC_PROPAGATE_DEFAULTS is a macro expression Swift can't import.
static const uint32_t cgrpc_propagate_defaults = GRPC_PROPAGATE_DEFAULTS;

static inline gpr_timespec cgrpc_inf_future(void) {
  return gpr_inf_future(GPR_CLOCK_MONOTONIC);
}

/// Absolute monotonic deadline `ns` nanoseconds from now.
static inline gpr_timespec cgrpc_deadline_after_ns(int64_t ns) {
  if (ns < 0) ns = 0;
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(ns, GPR_TIMESPAN));
}

/// Nanoseconds until `deadline` (negative if past), INT64_MAX if infinite.
static inline int64_t cgrpc_remaining_ns(gpr_timespec deadline) {
  if (gpr_time_cmp(deadline, gpr_inf_future(deadline.clock_type)) == 0) return INT64_MAX;
  gpr_timespec mono = gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC);
  gpr_timespec diff = gpr_time_sub(mono, gpr_now(GPR_CLOCK_MONOTONIC));
  if (diff.tv_sec > 9000000000LL) return INT64_MAX;
  if (diff.tv_sec < -9000000000LL) return INT64_MIN;
  return diff.tv_sec * 1000000000LL + diff.tv_nsec;
}

/// Channel/server args shared by both ends: message size limits, and no
/// SO_REUSEPORT so that binding a port already in use fails loudly.
static inline grpc_channel_args cgrpc_make_args(grpc_arg *storage, int max_message_bytes, int is_server) {
  size_t n = 0;
  storage[n].type = GRPC_ARG_INTEGER;
  storage[n].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  storage[n].value.integer = max_message_bytes;
  n++;
  storage[n].type = GRPC_ARG_INTEGER;
  storage[n].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  storage[n].value.integer = max_message_bytes;
  n++;
  if (!is_server) {
    storage[n].type = GRPC_ARG_INTEGER;
    storage[n].key = (char *)GRPC_ARG_ENABLE_RETRIES;
    storage[n].value.integer = 0;
    n++;
  }
  if (is_server) {
    storage[n].type = GRPC_ARG_INTEGER;
    storage[n].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    storage[n].value.integer = 0;
    n++;
  }
  grpc_channel_args args = { n, storage };
  return args;
}

static inline grpc_server *cgrpc_server_create(int max_message_bytes) {
  grpc_arg storage[4];
  grpc_channel_args args = cgrpc_make_args(storage, max_message_bytes, 1);
  return grpc_server_create(&args, NULL);
}

/// Returns the bound port, 0 on failure.
static inline int cgrpc_server_add_insecure_port(grpc_server *server, const char *addr) {
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  int port = grpc_server_add_http2_port(server, addr, creds);
  grpc_server_credentials_release(creds);
  return port;
}

/// Binds a TLS port: the server presents `cert_pem`/`key_pem`; with `ca_pem`
/// (may be NULL) clients must present a certificate signed by it (mutual TLS).
/// Returns the bound port, 0 on failure.
static inline int cgrpc_server_add_tls_port(grpc_server *server, const char *addr, const char *ca_pem,
                                            const char *cert_pem, const char *key_pem) {
  grpc_ssl_pem_key_cert_pair pair = { key_pem, cert_pem };
  grpc_server_credentials *creds = grpc_ssl_server_credentials_create_ex(
      ca_pem, &pair, 1,
      ca_pem != NULL ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                     : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
      NULL);
  if (creds == NULL) return 0;
  int port = grpc_server_add_http2_port(server, addr, creds);
  grpc_server_credentials_release(creds);
  return port;
}

/// A TLS channel verifying the server against `ca_pem` (NULL: the system roots),
/// presenting `cert_pem`/`key_pem` when both are given. `target_name` (may be NULL)
/// overrides the name checked against the server's certificate.
static inline grpc_channel *cgrpc_tls_channel_create(const char *target, int max_message_bytes, const char *ca_pem,
                                                     const char *cert_pem, const char *key_pem,
                                                     const char *target_name) {
  grpc_arg storage[5];
  grpc_channel_args args = cgrpc_make_args(storage, max_message_bytes, 0);
  if (target_name != NULL) {
    storage[args.num_args].type = GRPC_ARG_STRING;
    storage[args.num_args].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
    storage[args.num_args].value.string = (char *)target_name;
    args.num_args++;
  }
  grpc_ssl_pem_key_cert_pair pair = { key_pem, cert_pem };
  grpc_channel_credentials *creds =
      grpc_ssl_credentials_create(ca_pem, (cert_pem != NULL && key_pem != NULL) ? &pair : NULL, NULL, NULL);
  if (creds == NULL) return NULL;
  grpc_channel *ch = grpc_channel_create(target, creds, &args);
  grpc_channel_credentials_release(creds);
  return ch;
}

static inline grpc_channel *cgrpc_insecure_channel_create(const char *target, int max_message_bytes) {
  grpc_arg storage[4];
  grpc_channel_args args = cgrpc_make_args(storage, max_message_bytes, 0);
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  grpc_channel *ch = grpc_channel_create(target, creds, &args);
  grpc_channel_credentials_release(creds);
  return ch;
}

// ---------------------------------------------------------------------------
// Operation batch: one allocation holding the grpc_op array plus every buffer
// the ops point at, so Swift owns a single pointer per batch and frees
// everything in one place (cgrpc_batch_destroy) exactly once.

#define CGRPC_MAX_OPS 6

typedef struct {
  grpc_op ops[CGRPC_MAX_OPS];
  size_t nops;
  /* send side, owned */
  grpc_metadata *send_md;
  size_t send_md_count;
  grpc_byte_buffer *send_message;
  grpc_slice send_status_details;
  int has_send_status_details;
  /* receive side, owned */
  grpc_byte_buffer *recv_message;
  grpc_metadata_array recv_initial_md;
  int has_recv_initial_md;
  grpc_metadata_array recv_trailing_md;
  int has_recv_trailing_md;
  grpc_status_code recv_status;
  grpc_slice recv_status_details;
  int has_recv_status_details;
  const char *recv_error_string;
  int recv_cancelled;
} cgrpc_batch;

static inline void cgrpc_batch_init(cgrpc_batch *b) { memset(b, 0, sizeof *b); }

static inline void cgrpc_batch_destroy(cgrpc_batch *b) {
  for (size_t i = 0; i < b->send_md_count; i++) {
    grpc_slice_unref(b->send_md[i].key);
    grpc_slice_unref(b->send_md[i].value);
  }
  if (b->send_md) gpr_free(b->send_md);
  if (b->send_message) grpc_byte_buffer_destroy(b->send_message);
  if (b->has_send_status_details) grpc_slice_unref(b->send_status_details);
  if (b->recv_message) grpc_byte_buffer_destroy(b->recv_message);
  if (b->has_recv_initial_md) grpc_metadata_array_destroy(&b->recv_initial_md);
  if (b->has_recv_trailing_md) grpc_metadata_array_destroy(&b->recv_trailing_md);
  if (b->has_recv_status_details) grpc_slice_unref(b->recv_status_details);
  if (b->recv_error_string) gpr_free((void *)b->recv_error_string);
}

static inline grpc_op *cgrpc_batch_next_op(cgrpc_batch *b, grpc_op_type type) {
  grpc_op *op = &b->ops[b->nops++];
  memset(op, 0, sizeof *op);
  op->op = type;
  return op;
}

/// Allocates room for `count` metadata entries to be sent with the initial
/// metadata; fill them with cgrpc_batch_set_metadata.
static inline void cgrpc_batch_alloc_metadata(cgrpc_batch *b, size_t count) {
  if (count == 0) return;
  b->send_md = (grpc_metadata *)gpr_zalloc(sizeof(grpc_metadata) * count);
}

static inline void cgrpc_batch_set_metadata(cgrpc_batch *b, const char *key, size_t klen,
                                            const char *value, size_t vlen) {
  grpc_metadata *md = &b->send_md[b->send_md_count++];
  md->key = grpc_slice_from_copied_buffer(key, klen);
  md->value = grpc_slice_from_copied_buffer(value, vlen);
}

static inline void cgrpc_batch_send_initial_metadata(cgrpc_batch *b) {
  grpc_op *op = cgrpc_batch_next_op(b, GRPC_OP_SEND_INITIAL_METADATA);
  op->data.send_initial_metadata.count = b->send_md_count;
  op->data.send_initial_metadata.metadata = b->send_md;
}

static inline void cgrpc_batch_send_message(cgrpc_batch *b, const uint8_t *bytes, size_t len) {
  b->send_message = cgrpc_byte_buffer_from_bytes(bytes, len);
  grpc_op *op = cgrpc_batch_next_op(b, GRPC_OP_SEND_MESSAGE);
  op->data.send_message.send_message = b->send_message;
}

static inline void cgrpc_batch_send_close_from_client(cgrpc_batch *b) {
  cgrpc_batch_next_op(b, GRPC_OP_SEND_CLOSE_FROM_CLIENT);
}

static inline void cgrpc_batch_send_status(cgrpc_batch *b, grpc_status_code code,
                                           const char *details, size_t len) {
  grpc_op *op = cgrpc_batch_next_op(b, GRPC_OP_SEND_STATUS_FROM_SERVER);
  op->data.send_status_from_server.status = code;
  if (len > 0) {
    b->send_status_details = grpc_slice_from_copied_buffer(details, len);
    b->has_send_status_details = 1;
    op->data.send_status_from_server.status_details = &b->send_status_details;
  }
}

static inline void cgrpc_batch_recv_initial_metadata(cgrpc_batch *b) {
  grpc_metadata_array_init(&b->recv_initial_md);
  b->has_recv_initial_md = 1;
  grpc_op *op = cgrpc_batch_next_op(b, GRPC_OP_RECV_INITIAL_METADATA);
  op->data.recv_initial_metadata.recv_initial_metadata = &b->recv_initial_md;
}

static inline void cgrpc_batch_recv_message(cgrpc_batch *b) {
  grpc_op *op = cgrpc_batch_next_op(b, GRPC_OP_RECV_MESSAGE);
  op->data.recv_message.recv_message = &b->recv_message;
}

static inline void cgrpc_batch_recv_status_on_client(cgrpc_batch *b) {
  grpc_metadata_array_init(&b->recv_trailing_md);
  b->has_recv_trailing_md = 1;
  b->recv_status_details = grpc_empty_slice();
  b->has_recv_status_details = 1;
  grpc_op *op = cgrpc_batch_next_op(b, GRPC_OP_RECV_STATUS_ON_CLIENT);
  op->data.recv_status_on_client.trailing_metadata = &b->recv_trailing_md;
  op->data.recv_status_on_client.status = &b->recv_status;
  op->data.recv_status_on_client.status_details = &b->recv_status_details;
  op->data.recv_status_on_client.error_string = &b->recv_error_string;
}

static inline void cgrpc_batch_recv_close_on_server(cgrpc_batch *b) {
  grpc_op *op = cgrpc_batch_next_op(b, GRPC_OP_RECV_CLOSE_ON_SERVER);
  op->data.recv_close_on_server.cancelled = &b->recv_cancelled;
}

static inline grpc_call_error cgrpc_batch_start(grpc_call *call, cgrpc_batch *b, void *tag) {
  return grpc_call_start_batch(call, b->ops, b->nops, tag, NULL);
}

// ---------------------------------------------------------------------------
// Server call request slot (reused across calls by one outstanding request).

typedef struct {
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array metadata;
} cgrpc_request;

static inline void cgrpc_request_init(cgrpc_request *r) {
  r->call = NULL;
  grpc_call_details_init(&r->details);
  grpc_metadata_array_init(&r->metadata);
}

static inline void cgrpc_request_destroy(cgrpc_request *r) {
  grpc_call_details_destroy(&r->details);
  grpc_metadata_array_destroy(&r->metadata);
}

static inline grpc_call_error cgrpc_request_call(grpc_server *server, cgrpc_request *r,
                                                 grpc_completion_queue *cq, void *tag) {
  return grpc_server_request_call(server, &r->call, &r->details, &r->metadata, cq, cq, tag);
}

// ---------------------------------------------------------------------------
// Registered-method request slot: the core matches the method itself and hands over the
// call with its (single) request message already read, saving a RECV_MESSAGE batch.

typedef struct {
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array metadata;
  grpc_byte_buffer *payload;
} cgrpc_registered_request;

static inline void cgrpc_registered_request_init(cgrpc_registered_request *r) {
  r->call = NULL;
  r->payload = NULL;
  r->deadline = gpr_inf_future(GPR_CLOCK_REALTIME);
  grpc_metadata_array_init(&r->metadata);
}

static inline void cgrpc_registered_request_destroy(cgrpc_registered_request *r) {
  grpc_metadata_array_destroy(&r->metadata);
  if (r->payload) grpc_byte_buffer_destroy(r->payload);
  r->payload = NULL;
}

/// Registers `method` (any host) with its first message read before the call is reported.
/// Must be called before grpc_server_start. NULL on failure.
static inline void *cgrpc_register_method_reading_payload(grpc_server *server, const char *method) {
  return grpc_server_register_method(server, method, NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
}

static inline grpc_call_error cgrpc_request_registered_call(grpc_server *server, void *method,
                                                            cgrpc_registered_request *r,
                                                            grpc_completion_queue *cq, void *tag) {
  return grpc_server_request_registered_call(server, method, &r->call, &r->deadline, &r->metadata,
                                             &r->payload, cq, cq, tag);
}

#endif
