# Build a static jouncebot binary, then ship it on a small Debian base: the
# deploy engine runs git, rsync and ssh, so the image carries those too.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/jouncebot .

FROM debian:bookworm-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends ca-certificates git rsync openssh-client \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --uid 10001 --home-dir /var/lib/jouncebot --create-home jouncebot
COPY --from=build /out/jouncebot /usr/local/bin/jouncebot
# The bbolt database lives here; mount a volume to keep it across restarts.
VOLUME ["/var/lib/jouncebot"]
# Mount the configuration (and secret files) here, read-only.
VOLUME ["/etc/jouncebot"]
USER jouncebot
WORKDIR /var/lib/jouncebot
EXPOSE 8080
# Two roles, one image. The default is the chat bot (with the deploy engine
# in the same process unless its config names agents:). The deploy agent on
# the deployment host is the second role, chosen by the command:
#   docker run … jouncebot agent --config /etc/jouncebot/agent.yaml --log-format json
# (it listens on agent.listen, e.g. :8443, mutual TLS only).
ENTRYPOINT ["/usr/local/bin/jouncebot"]
CMD ["--no-console", "--log-format", "json", "--config", "/etc/jouncebot/config.yaml"]
