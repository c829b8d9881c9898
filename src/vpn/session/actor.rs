//! The driver thread ("actor"). Each driver runs on a std thread of its own that owns its PTY or
//! child process; the async side sends it requests and awaits the reply together with the
//! cancel token. Everything the thread waits for — the client's output (read by small reader
//! threads), the client's exit, a cancel, the next request — arrives in one channel, its
//! [`Inbox`], so one blocking receive with the deadline as timeout waits for all of them.

use super::Deadline;
use crate::vpn::{CloseInfo, Credentials, OpenInfo, VpnClient, VpnError, VpnErrorKind};
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::marker::PhantomData;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// Names one output stream or process the inbox hears from.
pub type SourceId = u64;

/// A vendor driver's blocking side. It is built on, runs on and is dropped on its own thread,
/// so it may own things that must not cross threads (a Windows pseudo-console).
pub trait Driver {
    /// What the driver is built from (the resolved config).
    type Config: Send + 'static;
    /// For messages ("Cisco AnyConnect").
    const LABEL: &'static str;

    fn new(config: Self::Config) -> Self;

    /// Start-up check (client present, options consistent).
    fn check(&mut self, inbox: &mut Inbox) -> Result<(), VpnError>;

    /// Opens a tunnel; on error nothing may be left running. `inbox.cancelled()` says whether
    /// Ctrl-C came; then leave within [`super::CANCEL_GRACE`] and return `Cancelled`.
    fn open(
        &mut self,
        inbox: &mut Inbox,
        gateway: &str,
        credentials: &Credentials,
    ) -> Result<OpenInfo, VpnError>;

    /// Closes the tunnel (nothing open → Ok), by `deadline` at the latest.
    fn close(&mut self, inbox: &mut Inbox, deadline: Deadline) -> Result<CloseInfo, VpnError>;
}

enum Request {
    Check(oneshot::Sender<Result<(), VpnError>>),
    Open {
        gateway: String,
        credentials: Credentials,
        reply: oneshot::Sender<Result<OpenInfo, VpnError>>,
    },
    Close {
        deadline: Deadline,
        reply: oneshot::Sender<Result<CloseInfo, VpnError>>,
    },
}

/// What arrives at a driver thread.
enum Input {
    /// Bytes from a reader thread (when it read them); empty when that stream ended.
    Output(SourceId, Vec<u8>, Instant),
    /// A watched process exited (its status is ready to be collected).
    Exited(SourceId),
    /// The cancel token fired: look at it.
    Wake,
    Request(Request, CancellationToken),
    /// The handle was dropped: finish at once.
    Shutdown,
}

/// What a wait brought.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    /// Bytes of source `id`; empty when that stream ended.
    Output(SourceId, Vec<u8>),
    Exited(SourceId),
    /// A cancel was seen; the deadline was cut to its grace. Reported once per deadline.
    Cancelled,
    /// The deadline passed.
    Timeout,
}

/// The driver thread's one receiving end.
pub struct Inbox {
    tx: Sender<Input>,
    rx: Receiver<Input>,
    /// Input that came while no wait was asking (between requests), in order.
    backlog: VecDeque<Input>,
    requests: VecDeque<(Request, CancellationToken)>,
    next_id: SourceId,
    cancel: CancellationToken,
    stopping: bool,
    /// When each open output stream last brought bytes (read by its reader thread): pacing
    /// counts the client's quiet from there, not from when the driver looked.
    last_output: HashMap<SourceId, Instant>,
}

impl Inbox {
    fn new(tx: Sender<Input>, rx: Receiver<Input>) -> Inbox {
        Inbox {
            tx,
            rx,
            backlog: VecDeque::new(),
            requests: VecDeque::new(),
            next_id: 0,
            cancel: CancellationToken::new(),
            stopping: false,
            last_output: HashMap::new(),
        }
    }

    /// An inbox with no async side, for tests of a driver's blocking side; `cancel` stands for
    /// the request's token.
    #[cfg(test)]
    pub fn for_test(cancel: CancellationToken) -> Inbox {
        let (tx, rx) = mpsc::channel();
        let mut i = Inbox::new(tx, rx);
        i.cancel = cancel;
        i
    }

    /// Wakes the inbox as the async side does when the cancel token fires (for tests that cancel
    /// from another thread).
    #[cfg(test)]
    pub fn waker(&self) -> impl Fn() + Send + 'static {
        let tx = self.tx.clone();
        move || {
            let _ = tx.send(Input::Wake);
        }
    }

    /// Whether the current request was cancelled (Ctrl-C, or the handle went away).
    pub fn cancelled(&self) -> bool {
        self.stopping || self.cancel.is_cancelled()
    }

    /// A fresh id for a source of input.
    pub fn new_source(&mut self) -> SourceId {
        self.next_id += 1;
        self.next_id
    }

    /// When source `id` last brought bytes, of what the driver has received (`None` before its
    /// first output and after its end).
    pub fn last_output(&self, id: SourceId) -> Option<Instant> {
        self.last_output.get(&id).copied()
    }

    /// Reads `r` on a thread of its own until it ends; its bytes arrive as [`Got::Output`].
    pub fn attach(&mut self, r: impl Read + Send + 'static) -> std::io::Result<SourceId> {
        let id = self.new_source();
        let tx = self.tx.clone();
        std::thread::Builder::new()
            .name("vpnmon-client-output".into())
            .spawn(move || read_into(r, id, tx))?;
        Ok(id)
    }

    /// A sender that reports [`Got::Exited`] for `id` (used by the child guard's watcher).
    pub(super) fn exit_notifier(&self, id: SourceId) -> impl FnOnce() + Send + 'static {
        let tx = self.tx.clone();
        move || {
            let _ = tx.send(Input::Exited(id));
        }
    }

    /// Waits for the next input until `deadline`. A cancel cuts the deadline to its grace and is
    /// reported once ([`Got::Cancelled`]); the caller decides whether to stop or go on.
    pub fn wait(&mut self, deadline: &mut Deadline) -> Got {
        self.wait_at_most(deadline, None)
    }

    /// Like `wait`, but returns `Timeout` after `step` at the latest (only where the platform
    /// cannot report a process's exit as an event, see the child guard).
    pub fn wait_at_most(
        &mut self,
        deadline: &mut Deadline,
        step: Option<std::time::Duration>,
    ) -> Got {
        loop {
            if self.cancelled() && !deadline.is_cut() {
                deadline.cancel();
                return Got::Cancelled;
            }
            let input = match self.backlog.pop_front() {
                Some(i) => i,
                None => {
                    let mut left = deadline.remaining();
                    if let Some(s) = step {
                        left = left.min(s);
                    }
                    match self.rx.recv_timeout(left) {
                        Ok(i) => i,
                        Err(RecvTimeoutError::Timeout) => return Got::Timeout,
                        // Not while `self.tx` lives.
                        Err(RecvTimeoutError::Disconnected) => return Got::Timeout,
                    }
                }
            };
            if let Some(g) = self.sort(input) {
                return g;
            }
        }
    }

    /// Input already there, without waiting (`None` when there is none).
    pub fn ready(&mut self) -> Option<Got> {
        loop {
            let input = match self.backlog.pop_front() {
                Some(i) => i,
                None => self.rx.try_recv().ok()?,
            };
            if let Some(g) = self.sort(input) {
                return Some(g);
            }
        }
    }

    /// Input for the driver, or `None` for what the inbox keeps to itself.
    fn sort(&mut self, input: Input) -> Option<Got> {
        match input {
            Input::Output(id, b, at) => {
                if b.is_empty() {
                    self.last_output.remove(&id);
                } else {
                    self.last_output.insert(id, at);
                }
                Some(Got::Output(id, b))
            }
            Input::Exited(id) => Some(Got::Exited(id)),
            Input::Wake => None,
            Input::Request(r, c) => {
                self.requests.push_back((r, c));
                None
            }
            Input::Shutdown => {
                self.stopping = true;
                None
            }
        }
    }

    /// The next request, keeping other input for the next wait; `None` when the handle is gone.
    fn next_request(&mut self) -> Option<(Request, CancellationToken)> {
        loop {
            if self.stopping {
                return None;
            }
            if let Some(r) = self.requests.pop_front() {
                return Some(r);
            }
            match self.rx.recv() {
                Ok(Input::Request(r, c)) => return Some((r, c)),
                Ok(Input::Shutdown) | Err(_) => return None,
                // A late wake-up of a request already answered.
                Ok(Input::Wake) => {}
                Ok(i) => self.backlog.push_back(i),
            }
        }
    }
}

fn read_into(mut r: impl Read, id: SourceId, tx: Sender<Input>) {
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let at = Instant::now();
                if tx.send(Input::Output(id, buf[..n].to_vec(), at)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // EIO once a terminal's other side is closed.
            Err(_) => break,
        }
    }
    let _ = tx.send(Input::Output(id, Vec::new(), Instant::now()));
}

fn serve<D: Driver>(config: D::Config, mut inbox: Inbox) {
    let mut driver = D::new(config);
    while let Some((request, cancel)) = inbox.next_request() {
        inbox.cancel = cancel;
        match request {
            Request::Check(reply) => {
                let _ = reply.send(driver.check(&mut inbox));
            }
            Request::Open {
                gateway,
                credentials,
                reply,
            } => {
                let _ = reply.send(driver.open(&mut inbox, &gateway, &credentials));
            }
            Request::Close { deadline, reply } => {
                let _ = reply.send(driver.close(&mut inbox, deadline));
            }
        }
    }
    // Dropping the driver ends what it still holds (the child guard's Drop), on this thread.
    drop(driver);
}

/// The async handle of a driver thread: what the monitor holds as its `VpnClient`. The thread
/// starts with the first request and ends when the handle is dropped.
pub struct DriverThread<D: Driver> {
    config: Option<D::Config>,
    tx: Option<Sender<Input>>,
    thread: Option<JoinHandle<()>>,
    _driver: PhantomData<fn() -> D>,
}

impl<D: Driver + 'static> DriverThread<D> {
    pub fn new(config: D::Config) -> DriverThread<D> {
        DriverThread {
            config: Some(config),
            tx: None,
            thread: None,
            _driver: PhantomData,
        }
    }

    fn sender(&mut self) -> Result<Sender<Input>, VpnError> {
        if let Some(tx) = &self.tx {
            return Ok(tx.clone());
        }
        let gone = || VpnError::new(VpnErrorKind::Other, "the VPN driver thread has ended");
        let config = self.config.take().ok_or_else(gone)?;
        let (tx, rx) = mpsc::channel();
        let inbox = Inbox::new(tx.clone(), rx);
        let thread = std::thread::Builder::new()
            .name(format!("vpnmon-{}", D::LABEL))
            .spawn(move || serve::<D>(config, inbox))
            .map_err(|e| {
                VpnError::new(
                    VpnErrorKind::Other,
                    format!("cannot start the VPN driver thread: {e}"),
                )
            })?;
        self.thread = Some(thread);
        self.tx = Some(tx.clone());
        Ok(tx)
    }

    /// Sends a request and awaits its reply; a cancel meanwhile wakes the thread (which then
    /// finishes within its grace) and the reply is still awaited.
    async fn call<T>(
        &mut self,
        cancel: &CancellationToken,
        request: impl FnOnce(oneshot::Sender<Result<T, VpnError>>) -> Request,
    ) -> Result<T, VpnError> {
        let tx = self.sender()?;
        let (reply, mut answer) = oneshot::channel();
        let lost = || {
            VpnError::new(
                VpnErrorKind::ClientDied,
                format!("the {} driver thread ended unexpectedly", D::LABEL),
            )
        };
        tx.send(Input::Request(request(reply), cancel.clone()))
            .map_err(|_| lost())?;
        tokio::select! {
            r = &mut answer => return r.unwrap_or_else(|_| Err(lost())),
            _ = cancel.cancelled() => {
                let _ = tx.send(Input::Wake);
            }
        }
        answer.await.unwrap_or_else(|_| Err(lost()))
    }
}

#[async_trait::async_trait]
impl<D: Driver + 'static> VpnClient for DriverThread<D> {
    fn label(&self) -> &str {
        D::LABEL
    }

    async fn check(&mut self) -> Result<(), VpnError> {
        let never = CancellationToken::new();
        self.call(&never, Request::Check).await
    }

    async fn open(
        &mut self,
        gateway: &str,
        credentials: &Credentials,
        cancel: &CancellationToken,
    ) -> Result<OpenInfo, VpnError> {
        let (gateway, credentials) = (gateway.to_string(), credentials.clone());
        self.call(cancel, |reply| Request::Open {
            gateway,
            credentials,
            reply,
        })
        .await
    }

    async fn close(
        &mut self,
        deadline: Deadline,
        cancel: &CancellationToken,
    ) -> Result<CloseInfo, VpnError> {
        self.call(cancel, |reply| Request::Close { deadline, reply })
            .await
    }
}

impl<D: Driver> Drop for DriverThread<D> {
    /// Tells the thread to finish and waits for it: what it still holds is ended by its child
    /// guard within one grace period (by then the monitor's guard close has normally closed
    /// everything, and this returns at once).
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Input::Shutdown);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A driver whose open waits for a cancel (or 30 s) and whose close echoes its deadline.
    struct Waiter;

    impl Driver for Waiter {
        type Config = ();
        const LABEL: &'static str = "waiter";
        fn new(_: ()) -> Waiter {
            Waiter
        }
        fn check(&mut self, _: &mut Inbox) -> Result<(), VpnError> {
            Ok(())
        }
        fn open(
            &mut self,
            inbox: &mut Inbox,
            _: &str,
            _: &Credentials,
        ) -> Result<OpenInfo, VpnError> {
            let mut d = Deadline::after(Duration::from_secs(30));
            loop {
                match inbox.wait(&mut d) {
                    Got::Cancelled => return Err(VpnError::cancelled()),
                    Got::Timeout => return Ok(OpenInfo::default()),
                    _ => {}
                }
            }
        }
        fn close(
            &mut self,
            inbox: &mut Inbox,
            mut deadline: Deadline,
        ) -> Result<CloseInfo, VpnError> {
            // Waits out the deadline; a cancel shortens it to the grace.
            while inbox.wait(&mut deadline) != Got::Timeout {}
            Ok(CloseInfo::default())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_cancel_reaches_the_thread_without_polling() {
        let mut d = DriverThread::<Waiter>::new(());
        d.check().await.unwrap();
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            c2.cancel();
        });
        let t = Instant::now();
        let e = d
            .open("gw", &Credentials::default(), &cancel)
            .await
            .unwrap_err();
        assert_eq!(e.kind, VpnErrorKind::Cancelled);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        // A close after the cancel gets the grace, not its 30 s.
        let t = Instant::now();
        d.close(Deadline::after(Duration::from_secs(30)), &cancel)
            .await
            .unwrap();
        assert!(t.elapsed() <= super::super::CANCEL_GRACE + Duration::from_millis(200));
        // Without a cancel the deadline is kept.
        let t = Instant::now();
        d.close(
            Deadline::after(Duration::from_millis(150)),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
        assert!(t.elapsed() >= Duration::from_millis(150));
    }

    #[test]
    fn dropping_the_handle_ends_the_thread() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut d = DriverThread::<Waiter>::new(());
        rt.block_on(d.check()).unwrap();
        let t = Instant::now();
        drop(d);
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn readers_deliver_output_and_its_end() {
        let mut inbox = Inbox::for_test(CancellationToken::new());
        let id = inbox
            .attach(std::io::Cursor::new(b"hello".to_vec()))
            .unwrap();
        let mut d = Deadline::after(Duration::from_secs(5));
        let mut got = Vec::new();
        loop {
            match inbox.wait(&mut d) {
                Got::Output(i, b) if i == id && b.is_empty() => break,
                Got::Output(i, b) if i == id => got.extend(b),
                g => panic!("unexpected {g:?}"),
            }
        }
        assert_eq!(got, b"hello");
        assert_eq!(inbox.ready(), None);
    }
}
