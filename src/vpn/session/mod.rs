//! What every VPN driver shares, so a vendor folder holds only its strings and its dialog:
//!
//! - [`Transcript`]: the client's recent output for diagnostics, with the one redaction rule
//!   applied to the byte stream; [`Lines`]: the raw lines the dialog reads.
//! - [`Deadline`]: how long a step may take; a cancel cuts it to [`CANCEL_GRACE`].
//! - [`ChildGuard`]: interrupt → grace → kill → reap, also on drop, for a piped child or a
//!   pseudo-terminal client ([`Pty`]).
//! - [`DriverThread`]: each driver runs on a thread of its own that owns its client; the async
//!   side sends requests and awaits the reply together with the cancel token. The thread waits
//!   for everything (output, exit, cancel, requests) in one [`Inbox`].
//! - [`program`]: finding the client program.
//! - [`pace`]: the pause before each command typed into a client (it may drop fast input);
//!   [`vt`]: terminal escape sequences out of a client's output before anything reads it;
//!   a client on a terminal is stopped with the Ctrl-C byte ([`Process::interrupt`] of [`Pty`]),
//!   never by typing a command into whatever question it is asking.

mod actor;
mod child;
mod deadline;
mod pace;
pub mod program;
mod pty;
mod transcript;
pub mod vt;

pub use actor::{Driver, DriverThread, Got, Inbox, SourceId};
pub use child::{ChildGuard, Ending, Process};
pub use deadline::Deadline;
pub use pace::{pace, OnCancel};
pub use pty::Pty;
pub use transcript::{Lines, Redaction, Transcript, MASK};

use std::time::Duration;

/// How long a client may still take once Ctrl-C came (to disconnect, log off or exit) before it
/// is ended. One value for every driver; pacing pauses before the commands that take a tunnel
/// down are waited out on top of it ([`OnCancel::WaitOut`]).
pub const CANCEL_GRACE: Duration = Duration::from_millis(300);

/// Lines of client output kept for the diagnostic block.
pub const DIAG_LINES: usize = 30;
