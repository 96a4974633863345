//! Fills a running `tellus serve` with delivered stories for `scripts/bench-pull.sh`:
//! each story gets consent, its document and one recording over tus, as a phone would
//! deliver them, several reporters at once.
//!
//! Usage: bench_populate URL REPORTER_TOKEN STORIES BYTES_PER_RECORDING

use futures_util::stream::{self, StreamExt};
use tellus_testkit::Device;
use tellus_testkit::fixtures::audio;
use tellus_testkit::story::{Reporter, StorySpec};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, token, stories, bytes] = args.as_slice() else {
        eprintln!("usage: bench_populate URL REPORTER_TOKEN STORIES BYTES_PER_RECORDING");
        std::process::exit(2);
    };
    let (Ok(stories), Ok(bytes)) = (stories.parse::<usize>(), bytes.parse::<usize>()) else {
        eprintln!("STORIES and BYTES_PER_RECORDING are numbers");
        std::process::exit(2);
    };
    let reporter = Reporter {
        device: Device {
            token: token.clone(),
            // The reporter's id is not needed to deliver.
            id: String::new(),
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        },
    };
    stream::iter(0..stories)
        .map(|i| {
            let reporter = reporter.clone();
            async move {
                let spec = StorySpec::new(&format!("Story {i}"), &["record", "research_use"])
                    .audio(vec![audio(bytes, (i % 251) as u8)]);
                reporter.deliver(&spec).await;
            }
        })
        .buffer_unordered(4)
        .count()
        .await;
    println!("{stories} stories delivered");
}
