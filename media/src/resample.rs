//! Mono downmix and sample-rate conversion for the listening copy.
//!
//! A windowed-sinc resampler for any rational ratio (48 kHz → 16 kHz is a decimation
//! by 3, 44.1 kHz → 16 kHz a ratio of 160/441), linear phase and zero delay: output
//! sample k is the band-limited input at time k / out_rate exactly, so positions in the
//! listening copy are the recording's. Streaming, with memory bounded by the filter.

/// Zero crossings of the low-pass on each side of the centre tap (at the lower rate).
const ZERO_CROSSINGS: f64 = 16.0;
/// Kaiser window β: about 80 dB of stop-band rejection.
const KAISER_BETA: f64 = 8.0;
/// The pass band ends at this fraction of the lower Nyquist frequency.
const CUTOFF: f64 = 0.90;

pub(crate) struct Resampler {
    /// Output samples per `den` input samples (the ratio reduced: up / down).
    up: u64,
    down: u64,
    half_taps: usize,
    /// `up` phases × `2 * half_taps` taps.
    table: Vec<f32>,
    /// Input samples held, the first being absolute input index `first_index`
    /// (negative: the zeros before the recording starts).
    held: Vec<f32>,
    first_index: i64,
    produced: u64,
    passthrough: bool,
}

impl Resampler {
    pub(crate) fn new(in_rate: u32, out_rate: u32) -> Self {
        let g = gcd(u64::from(in_rate), u64::from(out_rate)).max(1);
        let (up, down) = (u64::from(out_rate) / g, u64::from(in_rate) / g);
        if up == down {
            return Resampler {
                up: 1,
                down: 1,
                half_taps: 0,
                table: Vec::new(),
                held: Vec::new(),
                first_index: 0,
                produced: 0,
                passthrough: true,
            };
        }
        // The cut-off in cycles per input sample.
        let cutoff = CUTOFF * 0.5 * (f64::from(out_rate.min(in_rate)) / f64::from(in_rate));
        let half_width = ZERO_CROSSINGS / (2.0 * cutoff);
        let half_taps = half_width.ceil() as usize;
        let taps = 2 * half_taps;
        let mut table = vec![0f32; up as usize * taps];
        for phase in 0..up as usize {
            let frac = phase as f64 / up as f64;
            let row = &mut table[phase * taps..(phase + 1) * taps];
            let mut sum = 0.0;
            let mut values = vec![0f64; taps];
            for (j, v) in values.iter_mut().enumerate() {
                // Tap j weighs input index floor(t) - half_taps + 1 + j, t = floor(t) + frac.
                let x = j as f64 - half_taps as f64 + 1.0 - frac;
                *v = if x.abs() >= half_width {
                    0.0
                } else {
                    2.0 * cutoff * sinc(2.0 * cutoff * x) * kaiser(x / half_width, KAISER_BETA)
                };
                sum += *v;
            }
            // Unity gain at DC in every phase: no ripple from the phase pattern.
            for (r, v) in row.iter_mut().zip(values) {
                *r = (v / sum) as f32;
            }
        }
        Resampler {
            up,
            down,
            half_taps,
            table,
            held: vec![0.0; half_taps],
            first_index: -(half_taps as i64),
            produced: 0,
            passthrough: false,
        }
    }

    /// How many output samples `input_samples` input samples make.
    pub(crate) fn output_len(&self, input_samples: u64) -> u64 {
        (input_samples * self.up).div_ceil(self.down)
    }

    /// Feeds input; appends every output sample it makes available to `out`.
    pub(crate) fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.passthrough {
            out.extend_from_slice(input);
            return;
        }
        self.held.extend_from_slice(input);
        self.drain(out, None);
    }

    /// Ends the input after `total_input` samples; appends the remaining output.
    pub(crate) fn finish(&mut self, total_input: u64, out: &mut Vec<f32>) {
        if self.passthrough {
            return;
        }
        self.held
            .extend(std::iter::repeat_n(0.0, self.half_taps + 1));
        self.drain(out, Some(self.output_len(total_input)));
    }

    fn drain(&mut self, out: &mut Vec<f32>, limit: Option<u64>) {
        let taps = 2 * self.half_taps;
        let held_end = self.first_index + self.held.len() as i64;
        loop {
            if limit.is_some_and(|l| self.produced >= l) {
                break;
            }
            let position = self.produced * self.down;
            let whole = (position / self.up) as i64;
            let phase = (position % self.up) as usize;
            let start = whole - self.half_taps as i64 + 1;
            if start + taps as i64 > held_end {
                break;
            }
            let from = (start - self.first_index) as usize;
            let window = &self.held[from..from + taps];
            let row = &self.table[phase * taps..(phase + 1) * taps];
            out.push(window.iter().zip(row).map(|(x, h)| x * h).sum());
            self.produced += 1;
        }
        // Keep only what the next output sample needs.
        let next_whole = (self.produced * self.down / self.up) as i64;
        let keep_from = next_whole - self.half_taps as i64 + 1;
        let drop = (keep_from - self.first_index).clamp(0, self.held.len() as i64) as usize;
        if drop > 0 {
            self.held.drain(..drop);
            self.first_index += drop as i64;
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Kaiser window at `x` in [-1, 1].
fn kaiser(x: f64, beta: f64) -> f64 {
    bessel_i0(beta * (1.0 - x * x).max(0.0).sqrt()) / bessel_i0(beta)
}

fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..50 {
        term *= half / k as f64;
        let t2 = term * term;
        sum += t2;
        if t2 < 1e-12 * sum {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, freq: f64, seconds: f64) -> Vec<f32> {
        (0..(f64::from(rate) * seconds) as usize)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() as f32)
            .collect()
    }

    fn resample_all(input: &[f32], from: u32, to: u32, piece: usize) -> Vec<f32> {
        let mut r = Resampler::new(from, to);
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            r.push(chunk, &mut out);
        }
        r.finish(input.len() as u64, &mut out);
        out
    }

    #[test]
    fn a_tone_keeps_its_phase_and_level_and_the_length_is_exact() {
        for (from, to) in [
            (48_000, 16_000),
            (44_100, 16_000),
            (22_050, 16_000),
            (11_025, 16_000),
        ] {
            let input = tone(from, 440.0, 1.0);
            let out = resample_all(&input, from, to, 1000);
            assert_eq!(
                out.len() as u64,
                (input.len() as u64 * u64::from(to)).div_ceil(u64::from(from))
            );
            let expected = tone(to, 440.0, 1.0);
            // Away from the edges the output is the same tone at the same instants.
            let worst = out[2000..14_000]
                .iter()
                .zip(&expected[2000..14_000])
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 0.01, "{from}->{to}: off by {worst}");
        }
    }

    #[test]
    fn above_the_new_nyquist_is_removed() {
        let input = tone(48_000, 12_000.0, 1.0);
        let out = resample_all(&input, 48_000, 16_000, 777);
        let rms = (out[1000..15_000].iter().map(|x| x * x).sum::<f32>() / 14_000.0).sqrt();
        assert!(rms < 0.001, "12 kHz leaks into 16 kHz audio: rms {rms}");
    }

    #[test]
    fn feeding_in_pieces_gives_the_same_output() {
        let input = tone(44_100, 1000.0, 0.5);
        assert_eq!(
            resample_all(&input, 44_100, 16_000, 1),
            resample_all(&input, 44_100, 16_000, 100_000)
        );
    }
}
