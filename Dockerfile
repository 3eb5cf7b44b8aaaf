# syntax=docker/dockerfile:1
#
# tlsgate's container image. Build from the repository root:
#
#   docker build -t ghcr.io/tlsgate/tlsgate:0.1.0 .
#
# No container engine runs on the development machines, so this file is kept
# conventional (two stages, nothing clever) and is exercised only where images
# are built.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the crates.io registry and compiled dependencies
# between builds. target/ is a cache mount, so the binary is copied out of it
# in the same step.
# The release profile keeps line tables for profiling (89 MiB); the image gets the stripped
# binary (about 15 MiB).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tlsgate \
    && install -D -m 0755 -s target/release/tlsgate /out/tlsgate

# cc: glibc and libgcc_s, which a Rust binary links against; Debian 12 matches
# the builder's glibc. rustls with aws-lc-rs is linked in statically, so no
# OpenSSL is needed. :nonroot already runs as 65532; USER repeats it so that
# runAsNonRoot can check a numeric user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/tlsgate /tlsgate
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/tlsgate"]
CMD ["serve"]
