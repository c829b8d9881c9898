//! The operator's requests to a running monitor, from the full-screen view's keys (`--tui`):
//! pause the schedule, resume it, or run the next cycle now. The monitor's wait between cycles
//! listens to them; a cycle under way is never interrupted by one (`q` is a stop, through the
//! cancellation token like Ctrl-C, not a control). A leaf: imports nothing of vpnmon.

/// One request. Pause and resume act between cycles: a pause asked for during a cycle takes
/// effect when its wait begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Do not start the next cycle when its time comes (the wait goes on until resumed).
    Pause,
    /// Start the next cycle at its time again (at once when that time has passed).
    Resume,
    /// End the wait now and run the next cycle (also when paused, which it ends).
    RunNow,
}

pub type ControlSender = tokio::sync::mpsc::UnboundedSender<Control>;
pub type ControlReceiver = tokio::sync::mpsc::UnboundedReceiver<Control>;

/// A sender for the view and a receiver for the monitor.
pub fn channel() -> (ControlSender, ControlReceiver) {
    tokio::sync::mpsc::unbounded_channel()
}
