# llmgate's controller image: the `llmgate` binary and the filter module it
# serves to Envoys (code.remote), on a small Debian base.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN rustup target add wasm32-wasip1 \
 && cargo build --release -p llmgate-filter --target wasm32-wasip1 \
 && cargo build --release -p llmgate-translator --bin llmgate

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/llmgate /usr/local/bin/llmgate
COPY --from=build /src/target/wasm32-wasip1/release/llmgate_filter.wasm /usr/local/bin/llmgate_filter.wasm
USER 65532
ENTRYPOINT ["/usr/local/bin/llmgate"]
