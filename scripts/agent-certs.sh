#!/bin/sh
# Makes the certificates for a jouncebot deploy agent and its chat bot:
# a private CA, the agent's server certificate and the bot's client
# certificate, all with openssl, in DIR (default ./agent-certs).
#
#   scripts/agent-certs.sh [DIR] [AGENT_HOST]
#
# AGENT_HOST (default deploy1001.example.org) is the name the bot checks on
# the agent's certificate (agents[].server_name). The client certificate is
# issued to "chatbot" (agent.client_name). Keep ca-key.pem offline; copy
# ca.pem, agent.pem and agent-key.pem to the deployment host, and ca.pem,
# chatbot.pem and chatbot-key.pem to the chat host.
set -eu
dir=${1:-agent-certs}
host=${2:-deploy1001.example.org}
days=${DAYS:-365}
mkdir -p "$dir"
cd "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
	-subj "/CN=jouncebot agent CA" -keyout ca-key.pem -out ca.pem \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
issue() { # name extKeyUsage subjectAltName
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$1-key.pem" -out "$1.csr"
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' "$2" "$3" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" \
		-extfile "$1.ext" -out "$1.pem"
	rm -f "$1.csr" "$1.ext"
}
issue agent serverAuth "DNS:$host"
issue chatbot clientAuth "DNS:chatbot"
echo "Made ca.pem, agent.pem/agent-key.pem (for $host) and chatbot.pem/chatbot-key.pem in $dir."
