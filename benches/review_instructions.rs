//! The admission path alone, for instruction counts that do not depend on the machine's load:
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null BENCH_BINARY N` for N = 0 and
//! N = 1000 (the difference over 1,000 is the instructions of one review). Each review is the
//! load benchmark's 6.7 KB Secret CREATE (2-certificate chain + key), answered as the webhook
//! answers it, after one review that fills the parse cache (a repeated request, as the API
//! server retries and `kubectl apply` loops send).
//!
//! Run: `cargo bench --bench review_instructions --no-run`, then valgrind on the binary it names.

mod common;
use common::review_body;

const NOW: i64 = 1_798_761_600; // 2027-01-01

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(0);
    if std::env::args().any(|a| a == "--test" || a == "--bench") && n == 0 {
        return; // `cargo test --benches` / `cargo bench` only check that this builds.
    }
    let body = review_body();
    let view = common::EmptyView::new();
    let reviewer = view.reviewer(NOW);
    let mut answered = reviewer.review(&body).unwrap().body.to_string().len();
    for _ in 0..n {
        answered += reviewer.review(&body).unwrap().body.to_string().len();
    }
    println!("{n} reviews, {answered} bytes of answers");
}
