//! The OS-specific bits of ICMP: the socket receive buffer, errno words, permission hints.

/// What to do when no ICMP socket may be opened.
#[cfg(windows)]
pub const ICMP_PERMISSION_HINT: &str =
    "run vpnmon as administrator (ICMP needs a raw socket on Windows)";
#[cfg(not(windows))]
pub const ICMP_PERMISSION_HINT: &str =
    "allow unprivileged ping with `sudo sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`, \
     or give vpnmon raw sockets with `sudo setcap cap_net_raw+ep /path/to/vpnmon`, or run it as root";

/// Plain words for the network errors a ping can meet.
pub fn io_words(e: &std::io::Error) -> String {
    #[cfg(unix)]
    match e.raw_os_error() {
        Some(libc::ENETUNREACH) => return "network unreachable".into(),
        Some(libc::EHOSTUNREACH) => return "no route to host".into(),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            return "sending was refused by the local firewall or permissions".into()
        }
        _ => {}
    }
    crate::error::io_reason(e)
}

/// Raises a socket's receive buffer to `want` bytes (forcing past `rmem_max` where privileged)
/// and returns the size in effect.
#[cfg(unix)]
pub fn raise_rcvbuf(socket: &surge_ping::AsyncSocket, want: usize) -> usize {
    use std::os::fd::BorrowedFd;
    let fd = socket.get_native_sock();
    // SAFETY: the fd belongs to the socket, which outlives this call.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&borrowed);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let n = want as libc::c_int;
        // SAFETY: plain setsockopt on a valid fd with a c_int value.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &n as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    if sock.recv_buffer_size().unwrap_or(0) < want {
        let _ = sock.set_recv_buffer_size(want);
    }
    sock.recv_buffer_size().unwrap_or(212_992)
}

/// Windows keeps large default buffers for raw sockets; nothing to raise.
#[cfg(not(unix))]
pub fn raise_rcvbuf(_socket: &surge_ping::AsyncSocket, want: usize) -> usize {
    want
}

/// Whether a network interface of this name exists (a tun device is up).
#[cfg(unix)]
pub fn interface_present(name: &str) -> bool {
    match std::ffi::CString::new(name) {
        // SAFETY: a valid NUL-terminated string; if_nametoindex only reads it.
        Ok(c) => unsafe { libc::if_nametoindex(c.as_ptr()) != 0 },
        Err(_) => false,
    }
}

#[cfg(not(unix))]
pub fn interface_present(_name: &str) -> bool {
    false
}
