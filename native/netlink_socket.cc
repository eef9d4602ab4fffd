// The only native part of xaev: one AF_NETLINK socket exposed to JavaScript.
// It performs socket syscalls and reports their results, nothing else: which
// options to set, what an errno means (ENOBUFS is an overrun), its symbolic
// name, and every netlink and XFRM message are TypeScript's business
// (src/netlink/socket.ts, src/netlink/errors.ts), so policy never needs a
// rebuild.

#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

// The TypeScript loader (src/netlink/native.ts: EXPECTED_ADDON_ABI) refuses a
// build whose number differs, so bump both with every change to the
// JS-visible interface.
constexpr uint32_t kAbiVersion = 4;

// The read size per datagram. Kernel netlink datagrams stay far below it
// (dumps are cut at 32 KiB), but a userspace sender may send more: such a
// datagram is cut here, and its real size is reported with it.
constexpr size_t kMaxDatagram = 64 * 1024;

// Bounds one read batch so that a busy socket cannot starve the event loop;
// whatever is left makes the (level-triggered) poll fire again at once.
constexpr size_t kMaxBatchDatagrams = 1024;
constexpr size_t kMaxBatchBytes = 4 * 1024 * 1024;

// Sending to the kernel is synchronous and practically never blocks, so a
// send still blocked after this long means something is badly wrong.
constexpr int kSendTimeoutMs = 5000;

// Carries the number and the call; the symbolic `code` is added in TypeScript
// (src/netlink/errors.ts: withErrnoCode), the one place errno names live.
Napi::Error ErrnoError(Napi::Env env, const char* syscall, int err) {
  Napi::Error error =
      Napi::Error::New(env, std::string(syscall) + ": " + strerror(err));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

// Both return an empty value, which is what a method returns after a throw.
Napi::Value ThrowErrno(Napi::Env env, const char* syscall, int err) {
  ErrnoError(env, syscall, err).ThrowAsJavaScriptException();
  return Napi::Value();
}

Napi::Value ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  return Napi::Value();
}

bool GetInteger(const Napi::CallbackInfo& info, size_t index, const char* name,
                int64_t min, int64_t max, int64_t* out) {
  if (!info[index].IsNumber()) {
    ThrowTypeError(info.Env(), std::string(name) + " must be a number");
    return false;
  }
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (!(value >= min && value <= max) || value != std::trunc(value)) {
    Napi::RangeError::New(info.Env(), std::string(name) +
                                          " must be an integer from " +
                                          std::to_string(min) + " to " +
                                          std::to_string(max))
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int64_t>(value);
  return true;
}

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// A poll() timeout for what is left until `deadline`; -1 (forever) stays -1.
int Remaining(int64_t deadline, int64_t timeout_ms) {
  if (timeout_ms < 0) return -1;
  return static_cast<int>(std::max<int64_t>(0, deadline - NowMs()));
}

// Returns 0 once `events` (or an error condition) is pending, ETIMEDOUT, or
// the errno of a failed poll(). A negative timeout waits forever.
int WaitFor(int fd, short events, int timeout_ms) {
  const int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    pollfd pfd{fd, events, 0};
    int ready = poll(&pfd, 1, Remaining(deadline, timeout_ms));
    if (ready > 0) return 0;
    if (ready == 0) return ETIMEDOUT;
    if (errno != EINTR) return errno;
  }
}

// sendto() the kernel (netlink port 0). Returns 0 or the errno, with the
// failed call's name in *syscall.
int SendToKernel(int fd, const uint8_t* data, size_t length, const char** syscall) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  const int64_t deadline = NowMs() + kSendTimeoutMs;
  for (;;) {
    *syscall = "sendto";
    if (sendto(fd, data, length, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) >= 0)
      return 0;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return errno;
    int err = WaitFor(fd, POLLOUT, Remaining(deadline, kSendTimeoutMs));
    if (err) {
      if (err != ETIMEDOUT) *syscall = "poll";
      return err;
    }
  }
}

// Datagrams per recvmmsg() call, at most. Bulk answers (GETAE replies, NEWAE
// acks, events) come one per datagram: one system call for many instead of one
// each matters most where a system call is dear (user-mode Linux: ~0.3 ms).
constexpr size_t kDatagramsPerCall = 16;

struct Received {
  size_t kept;  // bytes in its slot
  size_t full;  // its real size (MSG_TRUNC), more than kept when it was cut
};

// Receives up to `slots` queued datagrams without blocking, datagram i into
// slot i: at[i * kMaxDatagram, (i + 1) * kMaxDatagram). A slot each, because a
// datagram larger than what is left of a shared buffer would be cut and lost.
// Returns how many arrived (0: none queued) or -errno. An error after some
// datagrams is kept by the kernel and returned by the next call.
int ReceiveIntoSlots(int fd, uint8_t* at, size_t slots, Received* out) {
  mmsghdr messages[kDatagramsPerCall];
  iovec vectors[kDatagramsPerCall];
  slots = std::min(slots, kDatagramsPerCall);
  std::memset(messages, 0, sizeof messages);
  for (size_t i = 0; i < slots; i++) {
    vectors[i] = {at + i * kMaxDatagram, kMaxDatagram};
    messages[i].msg_hdr.msg_iov = &vectors[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  for (;;) {
    int n = recvmmsg(fd, messages, static_cast<unsigned>(slots), MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? 0 : -errno;
    }
    for (int i = 0; i < n; i++) {
      out[i].full = messages[i].msg_len;
      out[i].kept = std::min<size_t>(messages[i].msg_len, kMaxDatagram);
    }
    return n;
  }
}

// Reads queued datagrams back to back into target[*used, capacity) without
// blocking, each at a 4-aligned offset (zero-padded), while a whole
// kMaxDatagram still fits. Returns 0 when the queue is empty or the buffer
// full, else the recv errno (what was read stays in *used).
int ReadQueuedInto(int fd, uint8_t* target, size_t capacity, size_t* used) {
  while (capacity - *used >= kMaxDatagram) {
    const size_t slots = std::min(kDatagramsPerCall, (capacity - *used) / kMaxDatagram);
    Received received[kDatagramsPerCall];
    uint8_t* const first_slot = target + *used;
    const int n = ReceiveIntoSlots(fd, first_slot, slots, received);
    if (n < 0) return -n;
    // Move them together: each ends no later than its slot starts, so forward
    // memmove()s never overwrite one not yet moved. A cut datagram is left out
    // and reported (EMSGSIZE) after the others of its call, which are kept.
    int cut = 0;
    for (int i = 0; i < n; i++) {
      if (received[i].full > kMaxDatagram) {
        cut = EMSGSIZE;
        continue;
      }
      std::memmove(target + *used, first_slot + i * kMaxDatagram, received[i].kept);
      size_t end = *used + received[i].kept;
      size_t aligned = (end + 3) & ~static_cast<size_t>(3);
      std::memset(target + end, 0, aligned - end);
      *used = aligned;
    }
    if (cut) return cut;
    if (static_cast<size_t>(n) < slots) return 0;  // the queue is empty
  }
  return 0;
}

// Waits up to timeout_ms for the first datagram, then reads what is queued
// (ReadQueuedInto). *used stays 0 after a timeout; the errno of a failed
// call is returned with its name in *syscall.
int WaitAndReadInto(int fd, uint8_t* target, size_t capacity, int64_t timeout_ms,
                    size_t* used, const char** syscall) {
  const int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    *syscall = "poll";
    int err = WaitFor(fd, POLLIN, Remaining(deadline, timeout_ms));
    if (err == ETIMEDOUT) return 0;
    if (err) return err;
    *syscall = "recv";
    err = ReadQueuedInto(fd, target, capacity, used);
    if (*used || err) return err;
  }
}

void EnterNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    ThrowTypeError(env, "path must be a string");
    return;
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, "open", errno);
    return;
  }
  // Only the calling thread moves; that is the JS main thread, which opens
  // every socket afterwards, so the whole CLI behaves like `ip -n`.
  int failed = setns(fd, CLONE_NEWNET);
  int err = errno;
  close(fd);
  if (failed) ThrowErrno(env, "setns", err);
}

class NetlinkSocket : public Napi::ObjectWrap<NetlinkSocket> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NetlinkSocket",
        {
            InstanceAccessor<&NetlinkSocket::PortId>("portId"),
            InstanceMethod<&NetlinkSocket::SetSockOptInt>("setSockOptInt"),
            InstanceMethod<&NetlinkSocket::GetSockOptInt>("getSockOptInt"),
            InstanceMethod<&NetlinkSocket::Send>("send"),
            InstanceMethod<&NetlinkSocket::ReceiveAll>("receiveAll"),
            InstanceMethod<&NetlinkSocket::ReceiveInto>("receiveInto"),
            InstanceMethod<&NetlinkSocket::ExchangeInto>("exchangeInto"),
            InstanceMethod<&NetlinkSocket::StartReceiving>("startReceiving"),
            InstanceMethod<&NetlinkSocket::StopReceiving>("stopReceiving"),
            InstanceMethod<&NetlinkSocket::Close>("close"),
        });
  }

  explicit NetlinkSocket(const Napi::CallbackInfo& info) : ObjectWrap(info) {
    Napi::Env env = info.Env();
    int64_t protocol;
    if (!GetInteger(info, 0, "protocol", 0, INT_MAX, &protocol)) return;
    // On any failure below the wrapper deletes this object, closing the fd.
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                 static_cast<int>(protocol));
    if (fd_ < 0) {
      ThrowErrno(env, "socket", errno);
      return;
    }
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) {
      ThrowErrno(env, "bind", errno);
      return;
    }
    socklen_t len = sizeof local;
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len) < 0) {
      ThrowErrno(env, "getsockname", errno);
      return;
    }
    port_id_ = local.nl_pid;
  }

  // Runs from the GC finalizer (or at environment teardown) when close() was
  // never called. It must not touch JS, and cannot wait for uv_close.
  ~NetlinkSocket() override { ReleaseHandles(); }

 private:
  Napi::Value PortId(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), port_id_);
  }

  // setsockopt() with an int value; a uint32 (a multicast group) passes as its
  // bit pattern.
  void SetSockOptInt(const Napi::CallbackInfo& info) {
    int64_t level, option, value;
    if (!GetInteger(info, 0, "level", 0, INT_MAX, &level) ||
        !GetInteger(info, 1, "option", 0, INT_MAX, &option) ||
        !GetInteger(info, 2, "value", INT_MIN, UINT32_MAX, &value) ||
        !CheckOpen(info))
      return;
    int raw = static_cast<int>(static_cast<uint32_t>(value));
    if (setsockopt(fd_, static_cast<int>(level), static_cast<int>(option), &raw,
                   sizeof raw) < 0) {
      ThrowErrno(info.Env(), "setsockopt", errno);
    }
  }

  Napi::Value GetSockOptInt(const Napi::CallbackInfo& info) {
    int64_t level, option;
    if (!GetInteger(info, 0, "level", 0, INT_MAX, &level) ||
        !GetInteger(info, 1, "option", 0, INT_MAX, &option) || !CheckOpen(info))
      return Napi::Value();
    int value = 0;
    socklen_t len = sizeof value;
    if (getsockopt(fd_, static_cast<int>(level), static_cast<int>(option), &value,
                   &len) < 0) {
      return ThrowErrno(info.Env(), "getsockopt", errno);
    }
    return Napi::Number::New(info.Env(), value);
  }

  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Uint8Array data;
    if (!GetBytes(info, 0, "data must be a Buffer or Uint8Array", &data) || !CheckOpen(info))
      return Napi::Value();
    const char* syscall = nullptr;
    int err = SendToKernel(fd_, data.Data(), data.ByteLength(), &syscall);
    if (err) return ThrowErrno(env, syscall, err);
    return Napi::Number::New(env, static_cast<double>(data.ByteLength()));
  }

  Napi::Value ReceiveAll(const Napi::CallbackInfo& info) {
    if (!ReceiveBlocking(info, kMaxBatchDatagrams)) return Napi::Value();
    return BatchToJs(info.Env());
  }

  // receiveAll into the caller's buffer: no allocation and no JS object per
  // datagram, for readers of tens of thousands of replies. Datagrams go back
  // to back (ReadQueuedInto). Returns the bytes used; 0 after timeoutMs.
  Napi::Value ReceiveInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Uint8Array target;
    int64_t timeout;
    if (!GetTarget(info, 0, &target) || !GetInteger(info, 1, "timeoutMs", -1, INT_MAX, &timeout) ||
        !CheckOpen(info))
      return Napi::Value();
    if (pending_errno_) return ThrowErrno(env, "recv", std::exchange(pending_errno_, 0));
    size_t used = 0;
    const char* syscall = nullptr;
    int err = WaitAndReadInto(fd_, target.Data(), target.ByteLength(), timeout, &used, &syscall);
    if (used) {
      pending_errno_ = err;  // as in ReceiveBlocking: report it next time
      return Napi::Number::New(env, static_cast<double>(used));
    }
    if (err) return ThrowErrno(env, syscall, err);
    return Napi::Number::New(env, 0);
  }

  // sendto() `request` (unless empty), then receiveInto `target`, on a libuv
  // worker thread: the kernel does its share of a bulk request (it answers
  // inside sendto(), and builds the next dump batch inside recv()) on another
  // CPU while JavaScript goes on with the previous answers. Resolves to the
  // bytes used (0 after timeoutMs), rejects with the errno error. Until it
  // settles the socket is busy: every other call on it throws, close() waits
  // for it, and neither buffer may be touched.
  Napi::Value ExchangeInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Uint8Array request;
    Napi::Uint8Array target;
    int64_t timeout;
    if (!GetBytes(info, 0, "request must be a Uint8Array", &request) || !GetTarget(info, 1, &target) || !GetInteger(info, 2, "timeoutMs", -1, INT_MAX, &timeout) ||
        !CheckOpen(info))
      return Napi::Value();
    if (pending_errno_) return ThrowErrno(env, "recv", std::exchange(pending_errno_, 0));
    auto* worker = new ExchangeWorker(this, request, target, timeout);
    Napi::Promise promise = worker->Promise();
    busy_ = true;
    worker->Queue();
    return promise;
  }

  class ExchangeWorker : public Napi::AsyncWorker {
   public:
    ExchangeWorker(NetlinkSocket* socket, Napi::Uint8Array request, Napi::Uint8Array target,
                   int64_t timeout)
        : Napi::AsyncWorker(socket->Env(), "XaevNetlinkExchange"),
          deferred_(Napi::Promise::Deferred::New(socket->Env())),
          socket_(socket),
          fd_(socket->fd_),
          request_data_(request.Data()),
          request_length_(request.ByteLength()),
          target_data_(target.Data()),
          target_capacity_(target.ByteLength()),
          timeout_(timeout) {
      // Held until the work is done: the buffers' memory, and the socket
      // (whose destructor would close the fd under the worker).
      keep_socket_ = Napi::Persistent(socket->Value());
      keep_request_ = Napi::Persistent(request.As<Napi::Object>());
      keep_target_ = Napi::Persistent(target.As<Napi::Object>());
    }

    Napi::Promise Promise() const { return deferred_.Promise(); }

   protected:
    // The worker thread: syscalls on the fd only, nothing of JavaScript.
    void Execute() override {
      if (request_length_ > 0) {
        err_ = SendToKernel(fd_, request_data_, request_length_, &syscall_);
        if (err_) return;
      }
      err_ = WaitAndReadInto(fd_, target_data_, target_capacity_, timeout_, &used_, &syscall_);
    }

    void OnOK() override {
      Napi::Env env = Env();
      socket_->ExchangeDone();
      if (used_) {
        socket_->pending_errno_ = err_;  // as in ReceiveInto: report it next time
        deferred_.Resolve(Napi::Number::New(env, static_cast<double>(used_)));
      } else if (err_) {
        deferred_.Reject(ErrnoError(env, syscall_, err_).Value());
      } else {
        deferred_.Resolve(Napi::Number::New(env, 0));
      }
    }

   private:
    Napi::Promise::Deferred deferred_;
    NetlinkSocket* socket_;
    const int fd_;
    const uint8_t* request_data_;
    size_t request_length_;
    uint8_t* target_data_;
    size_t target_capacity_;
    int64_t timeout_;
    Napi::ObjectReference keep_socket_;
    Napi::ObjectReference keep_request_;
    Napi::ObjectReference keep_target_;
    size_t used_ = 0;
    int err_ = 0;
    const char* syscall_ = "recv";
  };

  void ExchangeDone() {
    busy_ = false;
    if (closed_) ReleaseHandles();  // close() came meanwhile
  }

  // A Buffer or Uint8Array argument (a Buffer is a Uint8Array).
  static bool GetBytes(const Napi::CallbackInfo& info, size_t index, const char* wrong_type,
                       Napi::Uint8Array* bytes) {
    if (!info[index].IsTypedArray() ||
        info[index].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      ThrowTypeError(info.Env(), wrong_type);
      return false;
    }
    *bytes = info[index].As<Napi::Uint8Array>();
    return true;
  }

  // A receive buffer: bytes that hold at least one whole datagram.
  static bool GetTarget(const Napi::CallbackInfo& info, size_t index, Napi::Uint8Array* target) {
    if (!GetBytes(info, index, "buffer must be a Uint8Array", target)) return false;
    if (target->ByteLength() < kMaxDatagram) {
      ThrowTypeError(info.Env(), "buffer must hold at least " + std::to_string(kMaxDatagram) + " bytes");
      return false;
    }
    return true;
  }

  // Calling it again while receiving just swaps the callbacks: that lets a
  // caller re-subscribe without a window in which datagrams could be missed.
  void StartReceiving(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction() || !info[1].IsFunction()) {
      ThrowTypeError(env, "onDatagrams and onError must be functions");
      return;
    }
    if (!CheckOpen(info)) return;
    if (!poll_) {
      uv_loop_t* loop = nullptr;
      if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
        Napi::Error::New(env, "no libuv event loop").ThrowAsJavaScriptException();
        return;
      }
      // Heap-allocated because libuv still owns it after close() or the
      // destructor, until the uv_close callback frees it.
      auto* handle = new uv_poll_t;
      int rc = uv_poll_init_socket(loop, handle, fd_);
      if (rc < 0) {
        delete handle;
        ThrowErrno(env, "uv_poll_init", -rc);
        return;
      }
      handle->data = this;
      poll_ = handle;
    }
    if (!async_context_) {
      async_context_ = std::make_unique<Napi::AsyncContext>(env, "XaevNetlinkSocket");
    }
    on_datagrams_ = Napi::Persistent(info[0].As<Napi::Function>());
    on_error_ = Napi::Persistent(info[1].As<Napi::Function>());
    int rc = ArmPoll();
    if (rc < 0) {
      StopReceivingNow();
      ThrowErrno(env, "uv_poll_start", -rc);
      return;
    }
    if (!receiving_) {
      // Keeps an otherwise unreferenced socket from being collected while
      // the kernel still has something to tell it.
      Ref();
      receiving_ = true;
    }
  }

  void StopReceiving(const Napi::CallbackInfo&) { StopReceivingNow(); }

  void Close(const Napi::CallbackInfo&) {
    StopReceivingNow();
    pending_errno_ = 0;
    if (busy_) {
      // A worker thread is using the fd: it is closed when the work is done.
      closed_ = true;
      return;
    }
    ReleaseHandles();
  }

  bool CheckOpen(const Napi::CallbackInfo& info) {
    if (fd_ >= 0 && !closed_ && !busy_) return true;
    // Busy is a caller's mistake (one exchange at a time, nothing beside it), reported
    // like any other syscall failure.
    const bool busy = fd_ >= 0 && !closed_;
    Napi::Error error = Napi::Error::New(
        info.Env(), busy ? "the netlink socket is busy with an exchange" : "the netlink socket is closed");
    error.Set("errno", Napi::Number::New(info.Env(), busy ? EBUSY : EBADF));
    error.ThrowAsJavaScriptException();
    return false;
  }

  bool ReceiveBlocking(const Napi::CallbackInfo& info, size_t max_datagrams) {
    int64_t timeout;
    if (!GetInteger(info, 0, "timeoutMs", -1, INT_MAX, &timeout) || !CheckOpen(info))
      return false;
    spans_.clear();
    if (pending_errno_) {
      ThrowErrno(info.Env(), "recv", std::exchange(pending_errno_, 0));
      return false;
    }
    const int64_t deadline = NowMs() + timeout;
    for (;;) {
      int err = WaitFor(fd_, POLLIN, Remaining(deadline, timeout));
      if (err == ETIMEDOUT) return true;
      if (err) {
        ThrowErrno(info.Env(), "poll", err);
        return false;
      }
      err = ReadBatch(max_datagrams);
      if (!spans_.empty()) {
        // The kernel forgets an error once recv() has reported it, so keep
        // it for the next call instead of dropping the datagrams read so far.
        pending_errno_ = err;
        return true;
      }
      if (err) {
        ThrowErrno(info.Env(), "recv", err);
        return false;
      }
    }
  }

  // Reads queued datagrams back to back into buf_ without blocking. Returns
  // 0 when the queue is empty or the batch is full, else the recv errno.
  // MSG_TRUNC gives a datagram's real size even when only kMaxDatagram bytes
  // of it fit: that is how a cut datagram is recognised.
  int ReadBatch(size_t max_datagrams) {
    spans_.clear();
    size_t used = 0;
    while (spans_.size() < max_datagrams && used < kMaxBatchBytes) {
      const size_t slots = std::min(kDatagramsPerCall, max_datagrams - spans_.size());
      if (buf_capacity_ - used < slots * kMaxDatagram) {
        size_t capacity = std::max(buf_capacity_ * 2, used + slots * kMaxDatagram);
        std::unique_ptr<uint8_t[]> bigger(new uint8_t[capacity]);
        if (used) std::memcpy(bigger.get(), buf_.get(), used);
        buf_ = std::move(bigger);
        buf_capacity_ = capacity;
      }
      Received received[kDatagramsPerCall];
      uint8_t* const first_slot = buf_.get() + used;
      const int n = ReceiveIntoSlots(fd_, first_slot, slots, received);
      if (n < 0) return -n;
      for (int i = 0; i < n; i++) {
        std::memmove(buf_.get() + used, first_slot + i * kMaxDatagram, received[i].kept);
        spans_.push_back({used, received[i].kept, received[i].full});
        used += received[i].kept;
      }
      if (static_cast<size_t>(n) < slots) return 0;  // the queue is empty
    }
    return 0;
  }

  Napi::Array BatchToJs(Napi::Env env) {
    if (spans_.empty()) return Napi::Array::New(env);
    size_t total = spans_.back().offset + spans_.back().length;
    // One allocation and copy for the whole batch; the datagrams are views.
    Napi::Buffer<uint8_t> all = Napi::Buffer<uint8_t>::Copy(env, buf_.get(), total);
    Napi::Function subarray = all.Get("subarray").As<Napi::Function>();
    Napi::Array datagrams = Napi::Array::New(env, spans_.size());
    for (uint32_t i = 0; i < spans_.size(); i++) {
      const Span& span = spans_[i];
      datagrams.Set(i, subarray.Call(all, {Napi::Number::New(env, span.offset),
                                           Napi::Number::New(env, span.offset + span.length)}));
    }
    return datagrams;
  }

  // Each datagram's real size, or undefined when none in the batch was cut.
  Napi::Value FullSizesToJs(Napi::Env env) {
    bool cut = std::any_of(spans_.begin(), spans_.end(),
                           [](const Span& span) { return span.full != span.length; });
    if (!cut) return env.Undefined();
    Napi::Array sizes = Napi::Array::New(env, spans_.size());
    for (uint32_t i = 0; i < spans_.size(); i++) {
      sizes.Set(i, Napi::Number::New(env, static_cast<double>(spans_[i].full)));
    }
    return sizes;
  }

  // A pending error is reported without waiting for new data: a netlink
  // socket is always writable, so adding UV_WRITABLE fires on the next tick.
  // uv_poll_start() re-registers the fd with epoll each time, so it is only
  // called when the events change or libuv stopped the handle on POLLERR.
  int ArmPoll() {
    int events = pending_errno_ ? UV_READABLE | UV_WRITABLE : UV_READABLE;
    if (events == armed_events_ && uv_is_active(reinterpret_cast<uv_handle_t*>(poll_)))
      return 0;
    armed_events_ = events;
    return uv_poll_start(poll_, events, OnPoll);
  }

  static void OnPoll(uv_poll_t* handle, int /*status*/, int /*events*/) {
    // A negative status means POLLERR, i.e. the kernel set sk_err (ENOBUFS
    // after an overrun); libuv has stopped the handle for it. The drain
    // below reads that error, and ArmPoll() restarts polling either way.
    auto* self = static_cast<NetlinkSocket*>(handle->data);
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    // Holding the wrapper keeps the object alive even if a callback closes it.
    [[maybe_unused]] Napi::Object keep_alive = self->Value();
    self->Drain();
    if (!self->receiving_) return;
    int rc = self->ArmPoll();
    if (rc < 0) self->FailReceiving(ErrnoError(env, "uv_poll_start", -rc));
  }

  // Datagrams read before an error are delivered before it, to keep order.
  // A recv() error is handed to onError as its number, and ends this
  // wake-up: what it means (and whether to stop) is decided in TypeScript.
  // After a callback throws, nothing more is called in this wake-up.
  void Drain() {
    if (pending_errno_) {
      ReportError(std::exchange(pending_errno_, 0));
      return;
    }
    size_t budget = kMaxBatchDatagrams;
    while (receiving_ && budget > 0) {
      int err = ReadBatch(budget);
      budget -= spans_.size();
      if (!spans_.empty()) {
        napi_value args[] = {BatchToJs(Env()), FullSizesToJs(Env())};
        if (!Invoke(on_datagrams_, 2, args) || !receiving_) {
          pending_errno_ = err;
          return;
        }
      }
      if (err != 0) ReportError(err);
      if (err != 0 || spans_.empty()) return;
    }
  }

  void ReportError(int err) {
    napi_value arg = Napi::Number::New(Env(), err);
    Invoke(on_error_, 1, &arg);
  }

  void FailReceiving(Napi::Error error) {
    StopReceivingNow();
    napi_fatal_exception(Env(), error.Value());
  }

  // MakeCallback, not Call: it runs the microtask and nextTick queues
  // afterwards, so promises settled by the callback do not stall. A throw
  // goes to process 'uncaughtException' rather than into libuv.
  bool Invoke(const Napi::FunctionReference& callback, size_t argc, const napi_value* argv) {
    Napi::Env env = Env();
    callback.MakeCallback(Value(), argc, argv, *async_context_);
    if (!env.IsExceptionPending()) return true;
    napi_fatal_exception(env, env.GetAndClearPendingException().Value());
    return false;
  }

  void StopReceivingNow() {
    if (poll_) uv_poll_stop(poll_);
    on_datagrams_.Reset();
    on_error_.Reset();
    if (receiving_) {
      receiving_ = false;
      Unref();
    }
  }

  void ReleaseHandles() {
    if (poll_) {
      // uv_close also stops polling, which must happen before close(fd_).
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), FreeHandle);
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  static void FreeHandle(uv_handle_t* handle) {
    delete reinterpret_cast<uv_poll_t*>(handle);
  }

  int fd_ = -1;
  // An exchange's worker thread is using fd_ (ExchangeInto).
  bool busy_ = false;
  // close() came while busy: closed for JavaScript, the fd once the worker is done.
  bool closed_ = false;
  uint32_t port_id_ = 0;
  uv_poll_t* poll_ = nullptr;
  bool receiving_ = false;
  int armed_events_ = 0;
  // An error recv() returned (and the kernel thereby cleared) that has not
  // reached JS yet.
  int pending_errno_ = 0;
  std::unique_ptr<Napi::AsyncContext> async_context_;
  Napi::FunctionReference on_datagrams_;
  Napi::FunctionReference on_error_;
  std::unique_ptr<uint8_t[]> buf_;
  size_t buf_capacity_ = 0;
  // Where each datagram of the batch lies in buf_, and its size before the cut.
  struct Span {
    size_t offset;
    size_t length;
    size_t full;
  };
  std::vector<Span> spans_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  // Socket option numbers differ between architectures (SOL_SOCKET is 0xffff
  // on sparc and mips), so TypeScript takes them from the C headers here.
  Napi::Object constants = Napi::Object::New(env);
  const std::pair<const char*, int> kConstants[] = {
      {"SOL_SOCKET", SOL_SOCKET},
      {"SO_RCVBUF", SO_RCVBUF},
      {"SO_RCVBUFFORCE", SO_RCVBUFFORCE},
      {"SOL_NETLINK", SOL_NETLINK},
      {"NETLINK_ADD_MEMBERSHIP", NETLINK_ADD_MEMBERSHIP},
      {"NETLINK_EXT_ACK", NETLINK_EXT_ACK},
      {"NETLINK_CAP_ACK", NETLINK_CAP_ACK},
  };
  for (const auto& [name, value] : kConstants) {
    constants.Set(name, Napi::Number::New(env, value));
  }
  exports.Set("constants", constants);
  exports.Set("enterNetns", Napi::Function::New<EnterNetns>(env, "enterNetns"));
  exports.Set("NetlinkSocket", NetlinkSocket::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(xaev_netlink, Init)
