#!/usr/bin/env bash
# Makes test/fixtures/vad/speech.wav, the audio of the Silero VAD tests and demo: speech,
# silence, speech (synthesised by espeak-ng), 16 kHz mono 16-bit PCM, with faint white noise
# under everything so the silence is not digital zero. Run once; the WAV is committed.
# Needs: apt-get install espeak-ng sox.  Usage: tools/make_vad_wav.sh [out.wav]
set -euo pipefail
out="${1:-$(dirname "$0")/../test/fixtures/vad/speech.wav}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

say() { # say <file> <text>: espeak-ng at its default 22.05 kHz, resampled to 16 kHz mono 16-bit
  espeak-ng -v en-us -s 165 -w "$tmp/raw.wav" "$2"
  sox -R "$tmp/raw.wav" -r 16000 -c 1 -b 16 "$1"
}
silence() { sox -R -n -r 16000 -c 1 -b 16 "$1" trim 0 "$2"; }

silence "$tmp/s0.wav" 0.4
say "$tmp/a.wav" "Hello there, this is a voice test."
silence "$tmp/s1.wav" 1.2
say "$tmp/b.wav" "Silence, then speech again."
silence "$tmp/s2.wav" 0.5
sox -R "$tmp/s0.wav" "$tmp/a.wav" "$tmp/s1.wav" "$tmp/b.wav" "$tmp/s2.wav" "$tmp/speech.wav"
# -R makes sox's noise generator repeatable.
len="$(soxi -D "$tmp/speech.wav")"
sox -R -n -r 16000 -c 1 -b 16 "$tmp/noise.wav" synth "$len" whitenoise vol 0.003
# Explicit volumes: sox -m would otherwise halve each input; 0.7 keeps espeak-ng's peaks from clipping.
sox -R -m -v 0.7 "$tmp/speech.wav" -v 1 "$tmp/noise.wav" -b 16 "$out"
soxi "$out"
