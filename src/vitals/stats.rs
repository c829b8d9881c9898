//! Ping statistics as connvitals gives them: min, avg, max and standard deviation of the RTTs in
//! milliseconds, and the loss as a fraction of the echoes sent.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PingSummary {
    pub min: f64,
    pub avg: f64,
    pub max: f64,
    /// The population standard deviation (what `ping`'s `mdev` estimates), in ms.
    pub std: f64,
    /// Lost echoes / sent echoes, 0 to 1.
    pub loss: f64,
}

impl PingSummary {
    /// connvitals' result when every echo was lost: -1 for every field.
    pub const ALL_LOST: PingSummary = PingSummary {
        min: -1.0,
        avg: -1.0,
        max: -1.0,
        std: -1.0,
        loss: -1.0,
    };

    /// The statistics of `rtts` (the answered echoes) out of `sent` echoes.
    pub fn of(sent: usize, rtts: &[Duration]) -> PingSummary {
        if rtts.is_empty() || sent == 0 {
            return PingSummary::ALL_LOST;
        }
        let ms: Vec<f64> = rtts.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        let n = ms.len() as f64;
        let avg = ms.iter().sum::<f64>() / n;
        let var = ms.iter().map(|x| (x - avg) * (x - avg)).sum::<f64>() / n;
        PingSummary {
            min: ms.iter().copied().fold(f64::INFINITY, f64::min),
            avg,
            max: ms.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            std: var.sqrt(),
            loss: (sent - rtts.len().min(sent)) as f64 / sent as f64,
        }
    }

    pub fn all_lost(&self) -> bool {
        *self == PingSummary::ALL_LOST
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_answered_echoes() {
        let ms = Duration::from_millis;
        let s = PingSummary::of(4, &[ms(2), ms(4), ms(4)]);
        assert_eq!((s.min, s.max), (2.0, 4.0));
        assert!((s.avg - 10.0 / 3.0).abs() < 1e-9);
        // Population deviation of 2, 4, 4: sqrt(8/9).
        assert!((s.std - (8.0f64 / 9.0).sqrt()).abs() < 1e-9, "{}", s.std);
        assert_eq!(s.loss, 0.25);
        let one = PingSummary::of(1, &[ms(5)]);
        assert_eq!((one.std, one.loss), (0.0, 0.0));
    }

    #[test]
    fn every_echo_lost_is_minus_one_everywhere() {
        let s = PingSummary::of(4, &[]);
        assert!(s.all_lost());
        assert_eq!(s.min, -1.0);
        assert_eq!(s.loss, -1.0);
        assert!(!PingSummary::of(2, &[Duration::from_millis(1)]).all_lost());
    }
}
