//! The original's beeps as a real tone (or the user's WAV) through rodio on the default output
//! device, played on a background thread so a cycle's records and Ctrl-C never wait for it.
//! The device is opened only when a beep is due and dropped right after (a null or file device
//! consumes samples as fast as it can while open). No device: the terminal bell, said once.
//! Built without the `sound` cargo feature (no rodio, no ALSA headers needed), there is never a
//! device: the terminal bell, said once, as on a machine without sound.

use crate::record::{CycleReport, Record, Test, Verdict};
use crate::sinks::{RunEnd, Sink, SinkError};
#[cfg(feature = "sound")]
use std::io::Cursor;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The tone: 880 Hz for 150 ms, then 150 ms of silence, per beep.
#[cfg(feature = "sound")]
const TONE_HZ: f32 = 880.0;
#[cfg(feature = "sound")]
const BEEP: Duration = Duration::from_millis(150);
#[cfg(feature = "sound")]
const GAP: Duration = Duration::from_millis(150);
/// How long the end of a completed run waits for the last beeps.
const FINISH_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SoundError {
    #[error(
        "cannot read --sound-file {path}: {}; give a readable WAV file",
        crate::error::io_reason(source)
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[cfg(feature = "sound")]
    #[error(
        "--sound-file {path} is not a WAV file vpnmon can play ({source}); give a PCM WAV file"
    )]
    Decode {
        path: PathBuf,
        #[source]
        source: rodio::decoder::DecoderError,
    },
    #[cfg(not(feature = "sound"))]
    #[error(
        "--sound-file {path}: this vpnmon was built without sound (the `sound` cargo feature); leave the option out (failures ring the terminal bell) or build with the feature"
    )]
    NotBuilt { path: PathBuf },
}

/// Why a beep could not be played (said once, before falling back to the terminal bell).
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[cfg(feature = "sound")]
    #[error("{0}")]
    Device(#[source] rodio::DeviceSinkError),
    #[cfg(feature = "sound")]
    #[error("cannot decode the sound file: {0}")]
    Decode(#[source] rodio::decoder::DecoderError),
    #[cfg(not(feature = "sound"))]
    #[error("this vpnmon was built without the `sound` cargo feature")]
    NotBuilt,
}

/// How many beeps a record calls for, as the original: 3 when the gateway ping is not Good or
/// the VPN open or close failed, 1 per target that is not Good. `after_bad_gateway`: the
/// cycle's gateway ping was not Good, so a failed `VPN open` row is its consequence (the open was
/// not tried) and rings nothing more.
pub fn beeps_for_record(r: &Record, after_bad_gateway: bool) -> usize {
    match (r.test, r.result) {
        (_, Verdict::Good) => 0,
        (Test::TargetPing, _) => 1,
        (Test::VpnOpen, _) if after_bad_gateway => 0,
        _ => 3,
    }
}

/// How many beeps a cycle's records call for (`beeps_for_record` over the cycle).
pub fn beeps_for(report: &CycleReport) -> usize {
    let mut bad_gateway = false;
    let mut n = 0;
    for r in report.records.iter() {
        n += beeps_for_record(r, bad_gateway);
        bad_gateway |= r.test == Test::VpnPing && r.result != Verdict::Good;
    }
    n
}

/// What the sink asks its thread to do.
enum Msg {
    /// A beep is due for the first time: find out whether the device opens.
    Probe,
    /// A cycle ended that called for `n` beeps: the tone plays them together.
    Cycle(usize),
}

/// Whether beeps can be played: found out at the first beep that is due.
const UNKNOWN: u8 = 0;
const TONE: u8 = 1;
const BELL: u8 = 2;

/// The pause between bells, as the original's `sounder()`.
const BELL_GAP: Duration = Duration::from_millis(300);
/// How long the first due beep waits to learn whether there is a sound device.
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// What to play for one beep.
#[derive(Clone)]
enum Sound {
    Tone,
    #[cfg(feature = "sound")]
    File(std::sync::Arc<Vec<u8>>),
}

/// Checks and loads `--sound-file` at start-up so a bad file is one clear error, not a silent
/// failure at the first outage.
fn load_sound(path: Option<&Path>) -> Result<Sound, SoundError> {
    let Some(path) = path else {
        return Ok(Sound::Tone);
    };
    #[cfg(not(feature = "sound"))]
    return Err(SoundError::NotBuilt {
        path: path.to_path_buf(),
    });
    // Bounded and non-blocking: a FIFO or /dev/zero is refused, never waited on or read forever.
    #[cfg(feature = "sound")]
    let bytes = crate::input::read_bounded_io(path).map_err(|source| SoundError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(feature = "sound")]
    rodio::Decoder::new_wav(Cursor::new(bytes.clone())).map_err(|source| SoundError::Decode {
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(feature = "sound")]
    Ok(Sound::File(std::sync::Arc::new(bytes)))
}

pub struct SoundSink {
    tx: Option<mpsc::Sender<Msg>>,
    worker: Option<JoinHandle<()>>,
    done: mpsc::Receiver<()>,
    pending: usize,
    /// This cycle's gateway ping was not Good.
    bad_gateway: bool,
    device: Arc<AtomicU8>,
    bell: Bell,
}

/// The terminal for the bell fallback, shared with the sound thread; `None` when output goes
/// to files or pipes (a BEL byte has no place there).
#[derive(Clone)]
struct Bell(Arc<Mutex<Option<Box<dyn Write + Send>>>>);

impl Bell {
    /// `n` bells, 0.3 s apart, as the original's `sounder()`.
    fn ring(&self, n: usize) {
        let Ok(mut t) = self.0.lock() else { return };
        let Some(t) = t.as_mut() else { return };
        for i in 0..n {
            if i > 0 {
                std::thread::sleep(BELL_GAP);
            }
            let _ = t.write_all(b"\x07");
            let _ = t.flush();
        }
    }
}

/// The sound thread: opens the device when a beep is first due and plays each cycle's tone.
struct Player {
    sound: Sound,
    device: Arc<AtomicU8>,
    bell: Bell,
    notices: Box<dyn Write + Send>,
}

impl Player {
    fn no_device(&mut self, reason: PlayError) {
        if self.device.swap(BELL, Ordering::SeqCst) != BELL {
            // One write, so the line is not cut by the console's lines on the same terminal.
            let has_terminal = self.bell.0.lock().map(|b| b.is_some()).unwrap_or(false);
            let line = if has_terminal {
                format!("No sound device ({reason}); beeping with the terminal bell instead\n")
            } else {
                format!(
                    "No sound device ({reason}), and no terminal for its bell: failures are not sounded\n"
                )
            };
            let _ = self.notices.write_all(line.as_bytes());
            let _ = self.notices.flush();
        }
    }

    fn probe(&mut self) {
        if self.device.load(Ordering::SeqCst) == UNKNOWN {
            match probe_device() {
                Ok(()) => self.device.store(TONE, Ordering::SeqCst),
                Err(reason) => self.no_device(reason),
            }
        }
    }

    fn cycle(&mut self, n: usize) {
        if self.device.load(Ordering::SeqCst) != TONE {
            // Rung by the sink right after each line.
            return;
        }
        if let Err(reason) = play(&self.sound, n) {
            // The device went away since: this cycle's beeps as bells, and bells from now on.
            self.no_device(reason);
            self.bell.ring(n);
        }
    }
}

impl SoundSink {
    /// `bell` is the terminal for the bell fallback (`None` when output goes to files or pipes:
    /// no BEL bytes there); `notices` gets the one-time "no sound device" line (stderr).
    pub fn new(
        sound_file: Option<&Path>,
        bell: Option<Box<dyn Write + Send>>,
        notices: Box<dyn Write + Send>,
    ) -> Result<SoundSink, SoundError> {
        let device = Arc::new(AtomicU8::new(UNKNOWN));
        let bell = Bell(Arc::new(Mutex::new(bell)));
        let mut player = Player {
            sound: load_sound(sound_file)?,
            device: device.clone(),
            bell: bell.clone(),
            notices,
        };
        let (tx, rx) = mpsc::channel::<Msg>();
        let (done_tx, done) = mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("vpnmon-sound".into())
            .spawn(move || {
                let mut queue = std::collections::VecDeque::new();
                loop {
                    if queue.is_empty() {
                        match rx.recv() {
                            Ok(m) => queue.push_back(m),
                            Err(_) => break,
                        }
                    }
                    queue.extend(rx.try_iter());
                    let Some(m) = queue.pop_front() else { break };
                    match m {
                        Msg::Probe => player.probe(),
                        // Cycles faster than their tones: play only the latest cycle's.
                        Msg::Cycle(_) if queue.iter().any(|m| matches!(m, Msg::Cycle(_))) => {}
                        Msg::Cycle(n) => player.cycle(n),
                    }
                    let _ = done_tx.send(());
                }
            })
            .ok();
        Ok(SoundSink {
            tx: worker.as_ref().map(|_| tx),
            worker,
            done,
            pending: 0,
            bad_gateway: false,
            device,
            bell,
        })
    }

    fn send(&mut self, m: Msg) -> bool {
        self.reap();
        match &self.tx {
            Some(tx) if tx.send(m).is_ok() => {
                self.pending += 1;
                true
            }
            _ => false,
        }
    }

    fn reap(&mut self) {
        while self.done.try_recv().is_ok() {
            self.pending = self.pending.saturating_sub(1);
        }
    }

    /// Whether there is a sound device, asked of the sound thread when a beep is first due
    /// (waiting at most `PROBE_WAIT`; still unknown then: the tone's turn at the cycle's end).
    fn device(&mut self) -> u8 {
        if self.device.load(Ordering::SeqCst) == UNKNOWN && self.send(Msg::Probe) {
            let deadline = Instant::now() + PROBE_WAIT;
            while self.device.load(Ordering::SeqCst) == UNKNOWN {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.done.recv_timeout(left) {
                    Ok(()) => self.pending = self.pending.saturating_sub(1),
                    Err(_) => break,
                }
            }
        }
        self.device.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Sink for SoundSink {
    fn cycle_start(&mut self, _cycle: u64, _of: Option<u64>, _at: chrono::DateTime<chrono::Local>) {
        self.bad_gateway = false;
    }

    /// Without a sound device, the bells ring right after the record's line, before the next
    /// one, as the original's `sounder()` did (3 take 0.6 s).
    fn record(&mut self, r: &Record) {
        let n = beeps_for_record(r, self.bad_gateway);
        self.bad_gateway |= r.test == Test::VpnPing && r.result != Verdict::Good;
        if n > 0 && self.device() == BELL {
            self.bell.ring(n);
        }
    }

    async fn cycle_end(
        &mut self,
        report: &CycleReport,
        _cancel: &CancellationToken,
    ) -> Result<(), SinkError> {
        let n = beeps_for(report);
        if n > 0 && !report.cancelled && self.device.load(Ordering::SeqCst) != BELL {
            self.send(Msg::Cycle(n));
        }
        Ok(())
    }

    async fn finish(&mut self, end: RunEnd) -> Result<(), SinkError> {
        // Let the last cycle's beeps be heard when the run completed; a stop does not wait.
        self.tx = None;
        if matches!(end, RunEnd::Completed { .. }) {
            let deadline = Instant::now() + FINISH_WAIT;
            while self.pending > 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.done.recv_timeout(left) {
                    Ok(()) => self.pending -= 1,
                    Err(_) => break,
                }
            }
            if self.pending == 0 {
                if let Some(w) = self.worker.take() {
                    let _ = w.join();
                }
            }
        }
        Ok(())
    }
}

/// Whether the default output device opens (opened and dropped at once).
#[cfg(feature = "sound")]
fn probe_device() -> Result<(), PlayError> {
    let mut device =
        crate::platform::quiet_audio_errors(rodio::DeviceSinkBuilder::open_default_sink)
            .map_err(PlayError::Device)?;
    device.log_on_drop(false);
    Ok(())
}

/// Without the `sound` feature there is no device: the terminal bell.
#[cfg(not(feature = "sound"))]
fn probe_device() -> Result<(), PlayError> {
    Err(PlayError::NotBuilt)
}

/// Never reached without a device (`probe_device` said so first).
#[cfg(not(feature = "sound"))]
fn play(_sound: &Sound, _n: usize) -> Result<(), PlayError> {
    Err(PlayError::NotBuilt)
}

/// Plays `n` beeps on the default device, opened for this and dropped after.
#[cfg(feature = "sound")]
fn play(sound: &Sound, n: usize) -> Result<(), PlayError> {
    use rodio::Source;
    let mut device =
        crate::platform::quiet_audio_errors(rodio::DeviceSinkBuilder::open_default_sink)
            .map_err(PlayError::Device)?;
    device.log_on_drop(false);
    let player = rodio::Player::connect_new(device.mixer());
    for _ in 0..n {
        match sound {
            Sound::Tone => {
                player.append(
                    rodio::source::SineWave::new(TONE_HZ)
                        .take_duration(BEEP)
                        .amplify(0.5),
                );
            }
            Sound::File(bytes) => {
                match rodio::Decoder::new_wav(Cursor::new(bytes.as_ref().clone())) {
                    Ok(d) => player.append(d),
                    Err(e) => return Err(PlayError::Decode(e)),
                }
            }
        }
        player.append(
            rodio::source::SineWave::new(TONE_HZ)
                .take_duration(GAP)
                .amplify(0.0),
        );
    }
    player.sleep_until_end();
    drop(player);
    drop(device);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use chrono::Local;

    fn report(results: &[(Test, Verdict)]) -> CycleReport {
        let now = Local::now();
        CycleReport {
            cycle: 1,
            of: Some(1),
            started: now,
            finished: now,
            records: results
                .iter()
                .map(|&(test, result)| Record {
                    path: None,
                    cycle: 1,
                    at: now,
                    test,
                    result,
                    address: "a".into(),
                    name: "n".into(),
                    site: "Site".into(),
                    reason: None,
                    ping: None,
                    duration: Duration::ZERO,
                })
                .collect::<Vec<_>>()
                .into(),
            targets: 0,
            cancelled: false,
        }
    }

    #[test]
    fn three_beeps_per_vpn_test_one_per_target_none_when_good() {
        use Test::*;
        use Verdict::*;
        assert_eq!(
            beeps_for(&report(&[(VpnPing, Good), (TargetPing, Good)])),
            0
        );
        assert_eq!(beeps_for(&report(&[(VpnPing, Fail)])), 3);
        // The failed open row after a bad gateway ping was not tried: no more beeps.
        assert_eq!(beeps_for(&report(&[(VpnPing, Warn), (VpnOpen, Fail)])), 3);
        assert_eq!(
            beeps_for(&report(&[
                (VpnPing, Good),
                (VpnOpen, Fail),
                (VpnClose, Fail)
            ])),
            6
        );
        assert_eq!(
            beeps_for(&report(&[
                (TargetPing, Fail),
                (TargetPing, Warn),
                (TargetPing, Good)
            ])),
            2
        );
    }
}
