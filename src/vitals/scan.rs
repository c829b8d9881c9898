//! connvitals' limited port scan: `HEAD / HTTP/1.1` on 80 and (TLS) on 443 giving the RTT, the
//! response code and the `Server` header; the version in a MySQL/MariaDB server's greeting on
//! 3306; `None` where nothing answers within the timeout. Plus `--tcp`: a plain connect check.
//!
//! A certificate that does not verify (self-signed, expired, another name) is a result, not a
//! failure: the HEAD request is still made, and the problem is reported beside it.

use crate::probe::{PortChecker, PortOutcome};
use futures::future::BoxFuture;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The ports connvitals scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanPorts {
    pub http: u16,
    pub https: u16,
    pub mysql: u16,
}

impl Default for ScanPorts {
    fn default() -> Self {
        ScanPorts {
            http: 80,
            https: 443,
            mysql: 3306,
        }
    }
}

/// How long one check (connect, handshake, request, answer) may take in all.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// The most of an HTTP answer's head, or of a MySQL greeting, that is read.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct HttpResult {
    pub rtt_ms: f64,
    pub code: String,
    /// The `Server` header; `None` when the answer has none.
    pub server: Option<String>,
    /// Why the server's certificate did not verify (HTTPS only).
    pub cert_problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MysqlResult {
    pub rtt_ms: f64,
    /// The server version of the greeting, or the server's error when it refused us.
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scan {
    pub http: Option<HttpResult>,
    pub https: Option<HttpResult>,
    pub mysql: Option<MysqlResult>,
}

/// A `--tcp` connect check: the connect time, or why there was none.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpCheck {
    pub port: u16,
    pub outcome: Result<f64, String>,
}

/// The three checks of connvitals' scan, at once. `name` is the host as given (the TLS server
/// name and the HTTP `Host`).
pub async fn scan(name: &str, addr: IpAddr, ports: ScanPorts, timeout: Duration) -> Scan {
    let (http, https, mysql) = tokio::join!(
        http_head(name, SocketAddr::new(addr, ports.http), false, timeout),
        http_head(name, SocketAddr::new(addr, ports.https), true, timeout),
        mysql_version(SocketAddr::new(addr, ports.mysql), timeout),
    );
    Scan { http, https, mysql }
}

/// Connects to every port at once.
pub async fn tcp_checks(addr: IpAddr, ports: &[u16], timeout: Duration) -> Vec<TcpCheck> {
    futures::future::join_all(ports.iter().map(|&port| async move {
        let start = Instant::now();
        let outcome =
            match tokio::time::timeout(timeout, TcpStream::connect(SocketAddr::new(addr, port)))
                .await
            {
                Ok(Ok(_)) => Ok(ms(start.elapsed())),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    Err("refused".into())
                }
                Ok(Err(e)) => Err(crate::platform::net::io_words(&e)),
                Err(_) => Err("timeout".into()),
            };
        TcpCheck { port, outcome }
    }))
    .await
}

/// The monitor's `--tcp` checks (the cycle gets them as a [`PortChecker`]): [`tcp_checks`]
/// per target, each connect bounded by `timeout`.
pub struct TcpConnect {
    pub timeout: Duration,
}

impl PortChecker for TcpConnect {
    fn check<'a>(&'a self, host: &'a str, ports: &'a [u16]) -> BoxFuture<'a, Vec<PortOutcome>> {
        Box::pin(async move {
            let started = SystemTime::now();
            let t = Instant::now();
            let addr = match host.parse::<IpAddr>() {
                Ok(ip) => Ok(ip),
                // A name is looked up as the prober does (the system's resolver), once for all
                // its ports.
                Err(_) => {
                    match tokio::time::timeout(self.timeout, tokio::net::lookup_host((host, 0)))
                        .await
                    {
                        Ok(Ok(mut a)) => a
                            .next()
                            .map(|a| a.ip())
                            .ok_or_else(|| format!("'{host}' has no address")),
                        Ok(Err(e)) => Err(format!(
                            "cannot resolve '{host}': {}",
                            crate::platform::net::io_words(&e)
                        )),
                        Err(_) => Err(format!("cannot resolve '{host}': timeout")),
                    }
                }
            };
            let addr = match addr {
                Ok(a) => a,
                Err(why) => {
                    return ports
                        .iter()
                        .map(|&port| PortOutcome {
                            port,
                            started,
                            duration: t.elapsed(),
                            connect: Err(why.clone()),
                        })
                        .collect()
                }
            };
            tcp_checks(addr, ports, self.timeout)
                .await
                .into_iter()
                .map(|c| PortOutcome {
                    port: c.port,
                    started,
                    duration: c
                        .outcome
                        .as_ref()
                        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
                        .unwrap_or_else(|_| t.elapsed()),
                    connect: c.outcome.map(|ms| Duration::from_secs_f64(ms / 1000.0)),
                })
                .collect()
        })
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn http_head(name: &str, to: SocketAddr, tls: bool, timeout: Duration) -> Option<HttpResult> {
    tokio::time::timeout(timeout, async {
        let start = Instant::now();
        let tcp = TcpStream::connect(to).await.ok()?;
        let host = match name.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => name.to_string(),
        };
        let request = format!(
            "HEAD / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: vpnmon/{}\r\nAccept: */*\r\n\
             Connection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        if tls {
            let (connector, problem) = tls_connector();
            let server_name = match name.parse::<IpAddr>() {
                Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
                Err(_) => rustls::pki_types::ServerName::try_from(name.to_string()).ok()?,
            };
            let stream = connector.connect(server_name, tcp).await.ok()?;
            let mut r = head_exchange(stream, &request, start).await?;
            r.cert_problem = problem.lock().ok().and_then(|p| p.clone());
            Some(r)
        } else {
            head_exchange(tcp, &request, start).await
        }
    })
    .await
    .ok()
    .flatten()
}

/// Sends the request and reads the answer's head (httparse: the parser hyper uses).
async fn head_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &str,
    start: Instant,
) -> Option<HttpResult> {
    s.write_all(request.as_bytes()).await.ok()?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let rtt_ms = ms(start.elapsed());
                let server = resp
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("server"))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned());
                return Some(HttpResult {
                    rtt_ms,
                    code: resp.code?.to_string(),
                    server,
                    cert_problem: None,
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            _ => return None,
        }
    }
}

/// The version in the server's greeting (protocol 10: a NUL-terminated string after the
/// protocol byte), or the error it sent instead (0xff: code, then the message).
async fn mysql_version(to: SocketAddr, timeout: Duration) -> Option<MysqlResult> {
    tokio::time::timeout(timeout, async {
        let start = Instant::now();
        let mut s = TcpStream::connect(to).await.ok()?;
        let mut header = [0u8; 4];
        s.read_exact(&mut header).await.ok()?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        let mut payload = vec![0u8; len.min(MAX_HEAD)];
        s.read_exact(&mut payload).await.ok()?;
        let rtt_ms = ms(start.elapsed());
        Some(MysqlResult {
            rtt_ms,
            version: greeting_version(&payload)?,
        })
    })
    .await
    .ok()
    .flatten()
}

/// The greeting's version, or the server's refusal in words; `None` if this is not MySQL.
pub fn greeting_version(payload: &[u8]) -> Option<String> {
    match payload.split_first()? {
        (10, rest) => {
            let end = rest.iter().position(|&b| b == 0)?;
            Some(String::from_utf8_lossy(&rest[..end]).into_owned())
        }
        (0xff, rest) if rest.len() >= 2 => {
            let code = u16::from_le_bytes([rest[0], rest[1]]);
            // 4.1+ servers put '#' and a 5-character SQL state before the message.
            let msg = match rest.get(2) {
                Some(b'#') if rest.len() >= 8 => &rest[8..],
                _ => &rest[2..],
            };
            Some(format!(
                "(refused: error {code}: {})",
                String::from_utf8_lossy(msg)
            ))
        }
        _ => None,
    }
}

/// A TLS connector that verifies the certificate as a browser would (the Mozilla roots), but
/// on a problem notes it and goes on: the HEAD answer is still wanted.
fn tls_connector() -> (tokio_rustls::TlsConnector, Arc<Mutex<Option<String>>>) {
    let problem = Arc::new(Mutex::new(None));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("the Mozilla roots are valid trust anchors");
    let verifier = Arc::new(NotingVerifier {
        inner,
        problem: problem.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    (tokio_rustls::TlsConnector::from(Arc::new(config)), problem)
}

#[derive(Debug)]
struct NotingVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    problem: Arc<Mutex<Option<String>>>,
}

impl rustls::client::danger::ServerCertVerifier for NotingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if let Err(e) = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            if let Ok(mut p) = self.problem.lock() {
                *p = Some(cert_words(&e));
            }
        }
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A certificate problem in words an operator acts on.
pub fn cert_words(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "unknown issuer: self-signed or a private authority".into(),
            C::Expired | C::ExpiredContext { .. } => "expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "not valid yet".into(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "not valid for this host name or address".into()
            }
            C::Revoked => "revoked".into(),
            C::BadSignature => "bad signature".into(),
            C::Other(o) => o.to_string(),
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_versions_and_refusals() {
        let mut g = vec![10u8];
        g.extend_from_slice(b"10.11.14-MariaDB-0+deb12u2\0\x05\0\0\0");
        assert_eq!(
            greeting_version(&g).as_deref(),
            Some("10.11.14-MariaDB-0+deb12u2")
        );
        let mut e = vec![0xffu8, 0x6a, 0x04];
        e.extend_from_slice(b"Host '198.18.0.2' is not allowed to connect");
        assert_eq!(
            greeting_version(&e).as_deref(),
            Some("(refused: error 1130: Host '198.18.0.2' is not allowed to connect)")
        );
        assert_eq!(greeting_version(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(greeting_version(b""), None);
        assert_eq!(greeting_version(b"\x0aunterminated"), None);
    }

    #[test]
    fn certificate_problems_in_words() {
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(
            cert_words(&e),
            "unknown issuer: self-signed or a private authority"
        );
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert_eq!(cert_words(&e), "expired");
    }
}
