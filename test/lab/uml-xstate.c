// xaev kernel lab: an LD_PRELOAD shim for the UML kernels, so that UML 6.1 and 6.12 boot on
// hosts whose CPUs have AVX-512 or AMX (docs/lab.md, "Hosts with AVX-512 or AMX").
//
// UML (a host process) loads a guest thread's FPU state into the host process that runs it
// with ptrace(PTRACE_SETREGSET, NT_X86_XSTATE). Up to 6.12 it keeps sizeof(struct _xstate)
// bytes per thread (832: x87, SSE, the AVX upper halves; arch/x86/um/os-Linux/registers.c:
// restore_fp_registers()), but the host kernel takes only a whole XSAVE buffer of its own
// size (arch/x86/kernel/fpu/regset.c: xstateregs_set(), `count != fpu_user_cfg.max_size`:
// EFAULT), which AVX-512 and AMX make larger. The guest's first process then dies with
// "userspace - ptrace set fp regs failed, errno = 14" and the kernel panics.
//
// The shim completes such a write: it reads the target's whole state, lays UML's bytes over
// its start (the standard format puts the legacy area, the header and the AVX halves first),
// and writes the whole buffer. The state beyond UML's bytes (AVX-512, AMX) stays what the
// host process had, as UML itself would leave it on a host with a smaller buffer; guest
// programs are kept off AVX-512 (uml-init.sh), so they do not depend on it being switched.
// Writes of the host's full size (UML 7.3 asks the host for it) pass through unchanged.
//
// Built by test/lab/provision.ts: cc -O2 -shared -fPIC -o uml-xstate.so uml-xstate.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

typedef long (*ptrace_fn)(enum __ptrace_request, pid_t, void *, void *);

static ptrace_fn real_ptrace(void)
{
	static ptrace_fn fn;
	if (!fn)
		fn = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	return fn;
}

/* Large enough for any XSAVE layout so far (AMX tile data included: about 11 KiB). */
static char whole[1 << 16];

long ptrace(enum __ptrace_request request, ...)
{
	va_list ap;
	va_start(ap, request);
	pid_t pid = va_arg(ap, pid_t);
	void *addr = va_arg(ap, void *);
	void *data = va_arg(ap, void *);
	va_end(ap);

	static size_t host_size; /* the host's XSAVE size, read once */
	struct iovec *given = data;
	if (request != PTRACE_SETREGSET || (long)addr != NT_X86_XSTATE || (host_size && given->iov_len >= host_size))
		return real_ptrace()(request, pid, addr, data);

	int saved_errno = errno;
	struct iovec iov = { whole, sizeof whole };
	if (real_ptrace()(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov) < 0) {
		errno = saved_errno;
		return real_ptrace()(request, pid, addr, data);
	}
	host_size = iov.iov_len;
	if (given->iov_len >= host_size)
		return real_ptrace()(request, pid, addr, data);
	memcpy(whole, given->iov_base, given->iov_len);
	errno = saved_errno;
	return real_ptrace()(request, pid, addr, &iov);
}
