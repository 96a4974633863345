/* Linux: keeps the C audio libraries' chatter off stderr.
 *
 * alsa-lib prints its errors ("ALSA lib pcm.c:2722:(snd_pcm_open_noupdate) Unknown PCM
 * cards.pcm.rear") and libjack, loaded by ALSA's JACK plugin while devices are listed,
 * prints its own ("Cannot connect to server socket") before any error of ours. Both
 * are handed to Rust instead (tellus_audio_library_message), which logs them at debug
 * level through `tracing`. alsa-lib's handler is variadic, which stable Rust cannot
 * define: hence these few lines of C. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <alsa/asoundlib.h>

/* Defined in core/src/audio/quiet.rs. */
extern void tellus_audio_library_message(const char *library, const char *message);

static void alsa_message(const char *file, int line, const char *function, int err,
                         const char *fmt, ...) {
    char text[512];
    int used = snprintf(text, sizeof text, "%s:%d:(%s) ", file ? file : "?", line,
                        function ? function : "?");
    if (used < 0 || (size_t)used >= sizeof text) used = 0;
    va_list args;
    va_start(args, fmt);
    vsnprintf(text + used, sizeof text - (size_t)used, fmt ? fmt : "", args);
    va_end(args);
    (void)err;
    tellus_audio_library_message("alsa", text);
}

static void jack_message(const char *message) {
    tellus_audio_library_message("jack", message ? message : "");
}

void tellus_quiet_audio_libraries(void) {
    snd_lib_error_set_handler(alsa_message);
    /* libjack is loaded here, if it is installed, so that the plugin loaded later finds
     * this same copy with its messages already redirected. It stays loaded. */
    void *jack = dlopen("libjack.so.0", RTLD_LAZY | RTLD_GLOBAL);
    if (!jack) return;
    void (*set_error)(void (*)(const char *)) =
        (void (*)(void (*)(const char *)))dlsym(jack, "jack_set_error_function");
    void (*set_info)(void (*)(const char *)) =
        (void (*)(void (*)(const char *)))dlsym(jack, "jack_set_info_function");
    if (set_error) set_error(jack_message);
    if (set_info) set_info(jack_message);
}
