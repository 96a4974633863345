//! Microphones through cpal: list input devices, open the default or a named one at the
//! device's native rate (or a rate asked for), and capture through
//! [`CaptureSink::push`]. On Linux the chosen ALSA device is then read directly (see
//! `alsa_capture.rs`: cpal's ALSA thread spins on PulseAudio devices); elsewhere (AAudio,
//! CoreAudio) cpal captures, with a fixed buffer taken from the device's range.

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{
    Device, FromSample, SampleFormat, SizedSample, StreamConfig, SupportedBufferSize,
    SupportedStreamConfigRange,
};
use serde::Serialize;

use super::source::{
    AudioFormat, AudioSource, CaptureSink, RunningStream, StreamFault, check_sample_rate,
};
use crate::error::{Error, Result};

/// An input device as the person picks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputDevice {
    /// What `--device` takes: the host's id for it (e.g. "hw:0,0", "default").
    pub name: String,
    pub description: String,
    pub is_default: bool,
    /// The device's own configuration, e.g. "48000 Hz, 2 ch, f32"; None when it cannot
    /// be opened now.
    pub default_config: Option<String>,
}

/// The input devices of the default audio host. Devices that cannot be opened are
/// listed with no configuration, not hidden.
pub fn list_input_devices() -> Result<Vec<InputDevice>> {
    let host = audio_host();
    let default = host.default_input_device();
    let default_name = default.as_ref().map(device_name);
    let devices = host
        .input_devices()
        .map_err(|e| Error::Audio(format!("cannot list audio input devices: {e}")))?;
    let describe = |device: Device| {
        let name = device_name(&device);
        InputDevice {
            is_default: default_name.as_deref() == Some(name.as_str()),
            description: device
                .description()
                .map(|d| d.name().to_string())
                .unwrap_or_default(),
            default_config: device.default_input_config().ok().map(|c| {
                format!(
                    "{} Hz, {} ch, {}",
                    c.sample_rate(),
                    c.channels(),
                    c.sample_format()
                )
            }),
            name,
        }
    };
    let mut listed: Vec<InputDevice> = devices.map(describe).collect();
    // The host's default (ALSA's "default") is often not among the devices it
    // enumerates: listed first then, so exactly one input is marked the default.
    if !listed.iter().any(|d| d.is_default)
        && let Some(device) = default
    {
        listed.insert(0, describe(device));
    }
    Ok(listed)
}

/// The default audio host; every path into the audio libraries starts here, so their own
/// messages are routed to the log first (Linux).
fn audio_host() -> cpal::Host {
    #[cfg(target_os = "linux")]
    super::quiet::quiet_audio_libraries();
    cpal::default_host()
}

/// The host-specific part of a device's id ("alsa:hw:0,0" → "hw:0,0").
fn device_name(device: &Device) -> String {
    device
        .id()
        .map(|id| id.id().to_string())
        .unwrap_or_else(|_| device.to_string())
}

/// A cpal input device, opened with a concrete configuration.
pub struct CpalSource {
    device: Device,
    name: String,
    config: StreamConfig,
    sample_format: SampleFormat,
    stored: AudioFormat,
    /// The callback periods the device offers for this configuration, in frames.
    periods: Option<(u32, u32)>,
    /// The fixed buffer size asked for, once chosen (None: the device's default).
    buffer: Option<BufferChoice>,
    /// Linux: the ALSA device and configuration read directly instead of through cpal.
    #[cfg(target_os = "linux")]
    alsa: Option<super::alsa_capture::AlsaInput>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BufferChoice {
    Fixed(u32),
    Default,
}

/// The callback period aimed at. The capture thread sleeps between periods, so this sets
/// how often it wakes (10 times a second); what the device holds meanwhile is not yet
/// captured, so it also bounds what a stop leaves behind.
const PERIOD_MS: u32 = 100;

/// Rates tried, in order, for a device whose own rate is not one Tellus records.
const PREFERRED_RATES: [u32; 4] = [48_000, 44_100, 16_000, 32_000];

impl CpalSource {
    /// Opens `name` (as `tellus devices` lists it), or the default input device.
    /// The device's own rate is used unless `rate` asks for another it supports; frames
    /// are stored mono unless `stereo`. 16-bit capture is taken when the device offers
    /// it at that rate (nothing to convert); otherwise its native sample format. A rate
    /// Tellus does not record is refused before any device is touched.
    pub fn open(name: Option<&str>, rate: Option<u32>, stereo: bool) -> Result<CpalSource> {
        if let Some(rate) = rate {
            check_sample_rate(rate)?;
        }
        let host = audio_host();
        let device = match name {
            None => host.default_input_device().ok_or_else(|| {
                Error::Audio("there is no default audio input device (no microphone?)".into())
            })?,
            Some(wanted) => host
                .input_devices()
                .map_err(|e| Error::Audio(format!("cannot list audio input devices: {e}")))?
                .find(|d| {
                    device_name(d) == wanted
                        || d.id().is_ok_and(|id| id.to_string() == wanted)
                        || d.description().is_ok_and(|desc| desc.name() == wanted)
                })
                .ok_or_else(|| {
                    Error::Audio(format!(
                        "no audio input device is called '{wanted}' (see `tellus devices`)"
                    ))
                })?,
        };
        let name = device_name(&device);
        let native = device.default_input_config().map_err(|e| {
            Error::Audio(format!(
                "the audio input device '{name}' cannot be opened: {e}"
            ))
        })?;
        let ranges: Vec<SupportedStreamConfigRange> = device
            .supported_input_configs()
            .map(|r| r.collect())
            .unwrap_or_default();
        let offers = |rate: u32| {
            ranges
                .iter()
                .any(|r| (r.min_sample_rate()..=r.max_sample_rate()).contains(&rate))
        };
        let sample_rate = match rate {
            Some(rate) => rate,
            None if check_sample_rate(native.sample_rate()).is_ok() => native.sample_rate(),
            None => PREFERRED_RATES
                .into_iter()
                .find(|&r| offers(r))
                .ok_or_else(|| {
                    Error::Audio(format!(
                        "the audio input device '{name}' records only at {} Hz, which Tellus does not record",
                        native.sample_rate()
                    ))
                })?,
        };
        let want_channels: u16 = if stereo { 2 } else { 1 };
        let matching = |channels: u16, format: SampleFormat| {
            ranges.iter().find(|r| {
                r.channels() == channels
                    && r.sample_format() == format
                    && (r.min_sample_rate()..=r.max_sample_rate()).contains(&sample_rate)
            })
        };
        let (channels, sample_format, range) = [
            (want_channels, SampleFormat::I16),
            (want_channels, native.sample_format()),
            (native.channels(), SampleFormat::I16),
            (native.channels(), native.sample_format()),
        ]
        .into_iter()
        .find_map(|(c, f)| matching(c, f).map(|r| (c, f, r)))
        .ok_or_else(|| {
            Error::Audio(format!(
                "the audio input device '{name}' cannot record at {sample_rate} Hz"
            ))
        })?;
        if stereo && channels < 2 {
            return Err(Error::Audio(format!(
                "the audio input device '{name}' has only one channel: record in mono"
            )));
        }
        let periods = match range.buffer_size() {
            SupportedBufferSize::Range { min, max } if min <= max => Some((*min, *max)),
            _ => None,
        };
        #[cfg(target_os = "linux")]
        let alsa = (host.id() == cpal::HostId::Alsa
            && super::alsa_capture::AlsaInput::reads(sample_format))
        .then(|| super::alsa_capture::AlsaInput {
            name: name.clone(),
            sample_rate,
            channels,
            format: sample_format,
        });
        Ok(CpalSource {
            device,
            name,
            config: StreamConfig {
                channels,
                sample_rate,
                buffer_size: cpal::BufferSize::Default,
            },
            sample_format,
            stored: AudioFormat {
                sample_rate,
                channels: want_channels,
            },
            periods,
            buffer: None,
            #[cfg(target_os = "linux")]
            alsa,
        })
    }

    /// The buffer size to ask for, found once by opening the device without starting it:
    /// about `PERIOD_MS` of audio within the range the device offers, so the capture
    /// thread sleeps between periods. A device that refuses a fixed size (or offers no
    /// range) gets its default.
    fn choose_buffer(&self) -> BufferChoice {
        let Some((min, max)) = self.periods else {
            return BufferChoice::Default;
        };
        let frames = (self.config.sample_rate / 1000 * PERIOD_MS).clamp(min, max);
        let config = StreamConfig {
            buffer_size: cpal::BufferSize::Fixed(frames),
            ..self.config
        };
        let probe = self.device.build_input_stream_raw(
            config,
            self.sample_format,
            |_: &cpal::Data, _: &cpal::InputCallbackInfo| {},
            |_| {},
            None,
        );
        match probe {
            Ok(_) => BufferChoice::Fixed(frames),
            Err(_) => BufferChoice::Default,
        }
    }

    fn build<T>(&self, mut sink: CaptureSink, faults: StreamFault) -> Result<cpal::Stream>
    where
        T: SizedSample + Send + 'static,
        i16: FromSample<T>,
    {
        let channels = usize::from(self.config.channels);
        let on_error = move |e: cpal::Error| {
            // An overrun or a rerouting is counted; anything else ends the stream and
            // the recorder rebuilds it into the same recording.
            let fatal = !matches!(
                e.kind(),
                cpal::ErrorKind::Xrun
                    | cpal::ErrorKind::DeviceChanged
                    | cpal::ErrorKind::RealtimeDenied
            );
            faults.report(fatal);
        };
        self.device
            .build_input_stream::<T, _, _>(
                self.config,
                move |data: &[T], _: &cpal::InputCallbackInfo| {
                    sink.push(data, channels, <i16 as FromSample<T>>::from_sample_)
                },
                on_error,
                None,
            )
            .map_err(|e| {
                Error::Audio(format!(
                    "the audio input device '{}' cannot be started: {e}",
                    self.name
                ))
            })
    }
}

/// Holds the stream: dropping it stops the capture.
struct CpalStream {
    _stream: cpal::Stream,
}

impl RunningStream for CpalStream {}

impl AudioSource for CpalSource {
    fn describe(&self) -> String {
        format!(
            "{} ({} Hz, {} ch {})",
            self.name, self.config.sample_rate, self.config.channels, self.sample_format
        )
    }

    fn format(&self) -> AudioFormat {
        self.stored
    }

    fn start(&mut self, sink: CaptureSink, faults: StreamFault) -> Result<Box<dyn RunningStream>> {
        #[cfg(target_os = "linux")]
        if let Some(alsa) = &self.alsa {
            return alsa.start(sink, faults);
        }
        let buffer = match self.buffer {
            Some(chosen) => chosen,
            None => *self.buffer.insert(self.choose_buffer()),
        };
        self.config.buffer_size = match buffer {
            BufferChoice::Fixed(frames) => cpal::BufferSize::Fixed(frames),
            BufferChoice::Default => cpal::BufferSize::Default,
        };
        let stream = match self.sample_format {
            SampleFormat::I16 => self.build::<i16>(sink, faults)?,
            SampleFormat::F32 => self.build::<f32>(sink, faults)?,
            SampleFormat::I32 => self.build::<i32>(sink, faults)?,
            SampleFormat::U16 => self.build::<u16>(sink, faults)?,
            SampleFormat::U8 => self.build::<u8>(sink, faults)?,
            SampleFormat::I8 => self.build::<i8>(sink, faults)?,
            SampleFormat::F64 => self.build::<f64>(sink, faults)?,
            other => {
                return Err(Error::Audio(format!(
                    "the audio input device '{}' delivers {other} samples, which Tellus cannot record",
                    self.name
                )));
            }
        };
        stream.play().map_err(|e| {
            Error::Audio(format!(
                "the audio input device '{}' cannot be started: {e}",
                self.name
            ))
        })?;
        Ok(Box::new(CpalStream { _stream: stream }))
    }
}
