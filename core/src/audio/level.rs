//! The level meter: peak and RMS of each ~50 ms of audio, in dBFS, computed on the
//! writer thread (never in the audio callback).

use serde::Serialize;

use crate::position::AudioPosition;

/// The quietest level reported; digital silence is shown as this rather than -infinity.
pub const FLOOR_DBFS: f32 = -120.0;

/// Level of one window of audio.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Level {
    /// Loudest sample, in dBFS (0 is full scale).
    pub peak_dbfs: f32,
    /// Root mean square, in dBFS: how loud it sounds.
    pub rms_dbfs: f32,
    /// Where in the recording's audio the window ends.
    pub at: AudioPosition,
}

/// Full-scale-relative decibels of a linear amplitude in 0..=1.
pub fn dbfs(amplitude: f64) -> f32 {
    if amplitude <= 0.0 {
        FLOOR_DBFS
    } else {
        ((20.0 * amplitude.log10()) as f32).max(FLOOR_DBFS)
    }
}

/// Accumulates samples and yields a [`Level`] per window.
#[derive(Debug)]
pub struct LevelMeter {
    window_samples: u64,
    sample_rate: u32,
    channels: u16,
    samples: u64,
    peak: u16,
    sum_squares: f64,
    total_frames: u64,
}

impl LevelMeter {
    /// Windows of `window_ms` of audio of the given format.
    pub fn new(sample_rate: u32, channels: u16, window_ms: u32) -> Self {
        let frames = (u64::from(sample_rate) * u64::from(window_ms) / 1000).max(1);
        LevelMeter {
            window_samples: frames * u64::from(channels.max(1)),
            sample_rate,
            channels: channels.max(1),
            samples: 0,
            peak: 0,
            sum_squares: 0.0,
            total_frames: 0,
        }
    }

    /// Feeds samples; returns the level of the last window completed, if any.
    pub fn feed(&mut self, samples: &[i16]) -> Option<Level> {
        let mut completed = None;
        for &s in samples {
            self.peak = self.peak.max(s.unsigned_abs());
            self.sum_squares += f64::from(s) * f64::from(s);
            self.samples += 1;
            if self.samples == self.window_samples {
                self.total_frames += self.samples / u64::from(self.channels);
                let rms = (self.sum_squares / self.samples as f64).sqrt() / 32768.0;
                completed = Some(Level {
                    peak_dbfs: dbfs(f64::from(self.peak) / 32768.0),
                    rms_dbfs: dbfs(rms),
                    at: AudioPosition::from_millis(
                        self.total_frames * 1000 / u64::from(self.sample_rate.max(1)),
                    ),
                });
                self.samples = 0;
                self.peak = 0;
                self.sum_squares = 0.0;
            }
        }
        completed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_scale_square_wave_is_zero_dbfs_and_silence_is_the_floor() {
        let mut meter = LevelMeter::new(1000, 1, 50);
        let square: Vec<i16> = (0..50)
            .map(|i| if i % 2 == 0 { i16::MAX } else { -i16::MAX })
            .collect();
        let level = meter.feed(&square).unwrap();
        assert!(
            level.peak_dbfs.abs() < 0.01 && level.rms_dbfs.abs() < 0.01,
            "{level:?}"
        );
        assert_eq!(level.at.as_millis(), 50);
        let silence = meter.feed(&[0; 50]).unwrap();
        assert_eq!(
            (silence.peak_dbfs, silence.rms_dbfs),
            (FLOOR_DBFS, FLOOR_DBFS)
        );
        assert_eq!(silence.at.as_millis(), 100);
    }

    #[test]
    fn a_sine_at_half_scale_has_the_textbook_levels() {
        let rate = 16_000;
        let mut meter = LevelMeter::new(rate, 2, 50);
        let sine: Vec<i16> = (0..800)
            .flat_map(|i| {
                let v = (16384.0 * (2.0 * std::f64::consts::PI * 400.0 * i as f64 / 16000.0).sin())
                    as i16;
                [v, v]
            })
            .collect();
        let level = meter.feed(&sine).unwrap();
        // Half scale: peak -6.02 dBFS; a sine's RMS is 3.01 dB below its peak.
        assert!((level.peak_dbfs + 6.02).abs() < 0.05, "{level:?}");
        assert!((level.rms_dbfs + 9.03).abs() < 0.05, "{level:?}");
    }

    #[test]
    fn no_level_before_a_window_is_complete() {
        let mut meter = LevelMeter::new(16_000, 1, 50);
        assert_eq!(meter.feed(&[1000; 799]), None);
        assert!(meter.feed(&[1000]).is_some());
    }
}
