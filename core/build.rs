//! Linux only: compiles the few lines of C that keep the audio libraries' messages off
//! stderr (csrc/quiet_audio.c; alsa-lib's error handler is variadic).

fn main() {
    println!("cargo:rerun-if-changed=csrc/quiet_audio.c");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    cc::Build::new()
        .file("csrc/quiet_audio.c")
        .warnings(true)
        .compile("tellus_quiet_audio");
}
