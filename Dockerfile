# amolink: a static release binary on a slim base, running as an unprivileged user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p web --bin amolink

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/amolink amolink \
 && mkdir -p /var/lib/amolink && chown amolink /var/lib/amolink
COPY --from=build /src/target/release/amolink /usr/local/bin/amolink
USER amolink
WORKDIR /var/lib/amolink
# Argon2 allocates 19 MiB per hash; with glibc's default thresholds the freed blocks stay
# fragmented in the heap and a login flood grows the process to ~1 GiB (BENCHMARKS.md,
# login-flood). Serving such blocks with mmap returns them to the system at once.
ENV AMOLINK_BIND=0.0.0.0:8080 \
    AMOLINK_DATA_DIR=/var/lib/amolink \
    MALLOC_MMAP_THRESHOLD_=131072
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["amolink"]
CMD ["serve"]
