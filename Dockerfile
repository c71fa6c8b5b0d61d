# Build a static jouncebot binary, then ship it alone on a minimal base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/jouncebot .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/jouncebot /usr/local/bin/jouncebot
# The bbolt database lives here; mount a volume to keep it across restarts.
VOLUME ["/var/lib/jouncebot"]
# Mount the configuration (and secret files) here.
VOLUME ["/etc/jouncebot"]
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/jouncebot", "--no-console", "--log-format", "json"]
CMD ["--config", "/etc/jouncebot/config.yaml"]
