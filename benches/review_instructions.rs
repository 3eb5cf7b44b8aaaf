//! The admission path alone, for instruction counts that do not depend on the machine's load:
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null BENCH_BINARY N` for N = 0 and
//! N = 1000 (the difference over 1,000 is the instructions of one review). Each review is the
//! load benchmark's 6.7 KB Secret CREATE (2-certificate chain + key), answered as the webhook
//! answers it, after one review that fills the parse cache (a repeated request, as the API
//! server retries and `kubectl apply` loops send).
//!
//! `BENCH_BINARY N router` sends the same request through the webhook's axum router instead
//! (routing, timeout, body budget, metrics, the JSON answer as bytes: what `tlsgate serve` runs
//! per request on top of TLS and HTTP/1), on a current-thread runtime.
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
    if std::env::args().any(|a| a == "router") {
        return through_the_router(body, n);
    }
    let view = common::EmptyView::new();
    let reviewer = view.reviewer(NOW);
    let mut answered = reviewer.review(&body).unwrap().body.len();
    for _ in 0..n {
        answered += reviewer.review(&body).unwrap().body.len();
    }
    println!("{n} reviews, {answered} bytes of answers");
}

/// 1 + `n` requests through `webhook::router`, as `tlsgate serve` answers them.
fn through_the_router(body: Vec<u8>, n: usize) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let router = common::empty_router(|| NOW);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = axum::body::Bytes::from(body);
    let answered: usize = rt.block_on(async {
        let mut answered = 0;
        for _ in 0..=n {
            let req = axum::http::Request::post("/validate")
                .header("content-type", "application/json")
                .header("content-length", body.len())
                .body(axum::body::Body::from(body.clone()))
                .unwrap();
            let resp = router.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            answered += resp.into_body().collect().await.unwrap().to_bytes().len();
        }
        answered
    });
    println!(
        "{} requests through the router, {answered} bytes of answers",
        n + 1
    );
}
