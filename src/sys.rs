//! The operating system underneath std: every foreign function call and
//! every `unsafe` block of the crate is in this file, each behind a safe
//! function whose `// SAFETY:` comment says why the call is sound. The
//! crate root denies `unsafe_code` everywhere else.
//!
//! The declarations, constants and struct layouts come from the `libc`
//! crate (which `getrandom` already brings in), not from hand-copied
//! numbers: `O_NONBLOCK`, `ELOOP`, `SIGCHLD` and `SIGUSR1` differ between
//! Linux architectures (mips, sparc) and between Linux and the BSDs, and
//! `poll`'s count type and `struct termios` differ with them.
//!
//! # Supported targets
//!
//! Linux only. Tested (the whole suite on x86_64, the static musl binaries
//! under qemu-user): `x86_64-unknown-linux-gnu`, and the static musl
//! binaries `x86_64-unknown-linux-musl`, `aarch64-unknown-linux-musl`,
//! `armv7-unknown-linux-musleabihf` and `riscv64gc-unknown-linux-musl`.
//! Other Linux architectures build (every number comes from `libc`) but
//! are not tested. Any other operating system is refused at compile time:
//! the key directory's guarantees rest on Linux's `open(2)` flags and
//! `flock(2)`, which nothing here checks elsewhere.
//!
//! What lives here:
//! - signals: installing and restoring a handler ([`set_handler`],
//!   [`restore_handler`]), [`kill`], and what a handler may call
//!   ([`write_byte`]; every function a handler calls is async-signal-safe);
//! - [`poll_readable`]: sleep until a file descriptor has data;
//! - `open(2)` flags and `errno` values std does not name ([`O_NOFOLLOW`],
//!   [`O_NONBLOCK`], [`ELOOP`]) and [`euid`];
//! - terminal echo ([`EchoOff`], feature `cli`);
//! - zeroing memory the compiler may not skip ([`zeroize`],
//!   [`zeroize_vec`]).

#[cfg(not(target_os = "linux"))]
compile_error!(
    "vaultid supports Linux only (tested: x86_64 glibc; x86_64, aarch64, armv7 and riscv64 musl)"
);

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::raw::c_int;

pub(crate) use libc::{ELOOP, O_NOFOLLOW, O_NONBLOCK};
pub(crate) use libc::{
    SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
};

/// A signal handler: a plain function of the signal number, which may
/// only do async-signal-safe work (atomics, [`kill`], [`write_byte`]).
pub(crate) type Handler = extern "C" fn(c_int);

/// A signal's disposition before [`set_handler`] replaced it, for
/// [`restore_handler`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Disposition(libc::sighandler_t);

/// Make `handler` run on signal `sig` (`signal(3)`: glibc and musl give
/// BSD semantics, the handler stays installed and interrupted system calls
/// are restarted). Returns the disposition it replaced.
pub(crate) fn set_handler(sig: c_int, handler: Handler) -> io::Result<Disposition> {
    // SAFETY: `handler` is an `extern "C" fn(c_int)`, the type signal(3)
    // expects behind `sighandler_t`; the `Handler` contract keeps it to
    // async-signal-safe work. signal(3) touches no memory of ours.
    let prev = unsafe { libc::signal(sig, handler as libc::sighandler_t) };
    if prev == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(Disposition(prev))
}

/// Put back the disposition [`set_handler`] returned for `sig`.
pub(crate) fn restore_handler(sig: c_int, prev: Disposition) {
    // SAFETY: `prev` is what signal(3) returned for this signal: a
    // disposition (SIG_DFL, SIG_IGN or a handler) that was valid then and
    // stays valid, since handlers are functions of the program.
    unsafe { libc::signal(sig, prev.0) };
}

/// Send signal `sig` to process `pid` (`kill(2)`; `sig` 0 only asks whether
/// it exists). `false` when it failed or `pid` is not one process (0 and
/// negative numbers name process groups and are refused).
/// Async-signal-safe.
pub(crate) fn kill(pid: i32, sig: c_int) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Send `sig` to this process itself.
#[cfg(feature = "fuzzing")]
pub(crate) fn kill_self(sig: c_int) {
    // SAFETY: getpid(2) cannot fail; kill(2) takes two integers and touches
    // no memory of ours.
    unsafe { libc::kill(libc::getpid(), sig) };
}

/// Write one byte to `fd`, ignoring the result (a full or closed pipe is
/// harmless to a wake-up). Async-signal-safe: `write(2)` and nothing else,
/// so a signal handler may call it with a descriptor it loaded from an
/// atomic.
pub(crate) fn write_byte(fd: RawFd) {
    let b = 1u8;
    // SAFETY: the buffer is one valid byte that outlives the call; a
    // descriptor that is closed or not ours fails with EBADF or writes a
    // byte to a pipe, touching no memory.
    unsafe { libc::write(fd, (&raw const b).cast(), 1) };
}

/// Wait until `fd` is readable, at most `timeout_ms` milliseconds (`-1`:
/// no limit; `0`: do not wait): `poll(2)` on one descriptor. Whether it is
/// readable (or at its end); `false` on a timeout or an interruption by a
/// signal.
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: c_int) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is one valid, writable pollfd for the whole call and the
    // count says one; poll(2) keeps no pointer to it.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    n > 0 && p.revents != 0
}

/// The effective user id.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid(2) takes nothing, cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Echo off on terminal `fd` for as long as it lives (`tcgetattr(3)` /
/// `tcsetattr(3)`); the terminal's settings come back when it is dropped.
#[cfg(feature = "cli")]
pub(crate) struct EchoOff {
    fd: RawFd,
    saved: libc::termios,
}

#[cfg(feature = "cli")]
impl EchoOff {
    /// Turn echo off on `fd`; `None` when it is not a terminal or refused.
    pub(crate) fn new(fd: BorrowedFd<'_>) -> Option<EchoOff> {
        let fd = fd.as_raw_fd();
        let mut t = std::mem::MaybeUninit::<libc::termios>::zeroed();
        // SAFETY: `t` is a writable `struct termios` of the C library's own
        // layout; tcgetattr(3) writes at most that struct and keeps no
        // pointer.
        if unsafe { libc::tcgetattr(fd, t.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: tcgetattr succeeded, so it filled the struct (which is
        // plain integers, valid even where it did not write).
        let saved = unsafe { t.assume_init() };
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        set_termios(fd, &quiet).then_some(EchoOff { fd, saved })
    }
}

#[cfg(feature = "cli")]
impl Drop for EchoOff {
    fn drop(&mut self) {
        set_termios(self.fd, &self.saved);
    }
}

/// Apply `t` to terminal `fd` now.
#[cfg(feature = "cli")]
fn set_termios(fd: RawFd, t: &libc::termios) -> bool {
    // SAFETY: `t` is a whole `struct termios` read by tcgetattr; tcsetattr(3)
    // only reads it and keeps no pointer.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, t) == 0 }
}

/// Overwrite `bytes` with zeros in a way the compiler may not skip as a
/// dead store.
pub(crate) fn zeroize(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference to a byte.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// Overwrite a vector's whole allocation (its capacity, not only its
/// length) with zeros as [`zeroize`] does. The length is unchanged.
pub(crate) fn zeroize_vec(v: &mut Vec<u8>) {
    let cap = v.capacity();
    let ptr = v.as_mut_ptr();
    for i in 0..cap {
        // SAFETY: `i < capacity`: the byte is inside the allocation `v`
        // owns, writable through the exclusive borrow; a zero written past
        // the length leaves the vector's contents as they were.
        unsafe { std::ptr::write_volatile(ptr.add(i), 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn poll_sees_a_written_byte_and_times_out_without_one() {
        let (reader, writer) = std::io::pipe().unwrap();
        let t = std::time::Instant::now();
        assert!(!poll_readable(reader.as_fd(), 30));
        assert!(t.elapsed() >= std::time::Duration::from_millis(30));
        write_byte(writer.as_raw_fd());
        assert!(poll_readable(reader.as_fd(), 0));
    }

    #[test]
    fn kill_refuses_process_groups_and_finds_this_process() {
        assert!(!kill(0, 0));
        assert!(!kill(-1, 0));
        assert!(kill(i32::try_from(std::process::id()).unwrap(), 0));
    }

    #[test]
    fn zeroing_covers_the_whole_allocation() {
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(b"secret");
        zeroize_vec(&mut v);
        assert_eq!(v, [0; 6]);
        let mut a = [7u8; 4];
        zeroize(&mut a);
        assert_eq!(a, [0; 4]);
    }

    #[test]
    fn a_link_opened_without_following_fails_with_eloop() {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::env::temp_dir().join(format!("vaultid-sys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("target");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(O_NOFOLLOW | O_NONBLOCK)
            .open(&link)
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(ELOOP), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
