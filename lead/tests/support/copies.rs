//! Real copies of one recording for the data saver's tests (issue 20); apart from
//! mod.rs, which tellus-cli's tests include too.

/// Real copies of one recording, made as the phone makes them (tellus-media): a WAV of
/// a wandering tone, its FLAC and its Ogg Opus listening copy.
pub struct Copies {
    pub wav: Vec<u8>,
    pub flac: Vec<u8>,
    pub opus: Vec<u8>,
    pub pcm_sha256: String,
}

impl Copies {
    pub fn make(seconds: u32, rate: u32, seed: u32) -> Copies {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("r.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
        for n in 0..seconds * rate {
            let t = n as f32 / rate as f32;
            let pitch = 140.0 + 40.0 * (t * 0.7 + seed as f32).sin();
            let sample = 9000.0 * (std::f32::consts::TAU * pitch * t).sin();
            writer.write_sample(sample as i16).unwrap();
        }
        writer.finalize().unwrap();
        let flac = dir.path().join("r.flac");
        let encoded = tellus_media::encode_flac(&wav, &flac).unwrap();
        let opus = dir.path().join("r.opus");
        tellus_media::encode_opus(&wav, &opus, &tellus_media::OpusSettings::default()).unwrap();
        Copies {
            wav: std::fs::read(&wav).unwrap(),
            flac: std::fs::read(&flac).unwrap(),
            opus: std::fs::read(&opus).unwrap(),
            pcm_sha256: encoded.identity.pcm_sha256,
        }
    }
}
