//! Microphones through cpal: list input devices, open the default or a named one at the
//! device's native rate, and capture through [`CaptureSink::push`].

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{Device, FromSample, SampleFormat, SizedSample, StreamConfig};
use serde::Serialize;

use super::source::{AudioFormat, AudioSource, CaptureSink, RunningStream, StreamFault};
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
    let host = cpal::default_host();
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
}

impl CpalSource {
    /// Opens `name` (as `tellus devices` lists it), or the default input device.
    /// The device's own rate is used unless `rate` asks for another it supports; frames
    /// are stored mono unless `stereo`. 16-bit capture is taken when the device offers
    /// it at that rate (nothing to convert); otherwise its native sample format.
    pub fn open(name: Option<&str>, rate: Option<u32>, stereo: bool) -> Result<CpalSource> {
        let host = cpal::default_host();
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
        let sample_rate = rate.unwrap_or(native.sample_rate());
        let want_channels: u16 = if stereo { 2 } else { 1 };
        let ranges: Vec<_> = device
            .supported_input_configs()
            .map(|r| r.collect())
            .unwrap_or_default();
        let supports = |channels: u16, format: SampleFormat| {
            ranges.iter().any(|r| {
                r.channels() == channels
                    && r.sample_format() == format
                    && (r.min_sample_rate()..=r.max_sample_rate()).contains(&sample_rate)
            })
        };
        let (channels, sample_format) = [
            (want_channels, SampleFormat::I16),
            (want_channels, native.sample_format()),
            (native.channels(), SampleFormat::I16),
            (native.channels(), native.sample_format()),
        ]
        .into_iter()
        .find(|&(c, f)| supports(c, f))
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
        })
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
