// Synthetic media for tests with @roamhq/wrtc: a video track (640x360 I420 at 30 fps, a
// scrolling gradient with a moving square) and an audio track (48 kHz 440 Hz sine in 10 ms
// frames), pushed by one timer by wall clock so timer jitter does not change the rates.

export const WIDTH = 640;
export const HEIGHT = 360;
export const FPS = 30;
export const SAMPLE_RATE = 48000;
export const AUDIO_FRAME_MS = 10;

export class SyntheticMedia {
  constructor(wrtc) {
    const { RTCAudioSource, RTCVideoSource } = wrtc.nonstandard;
    this.audioSource = new RTCAudioSource();
    this.videoSource = new RTCVideoSource();
    this.audioTrack = this.audioSource.createTrack();
    this.videoTrack = this.videoSource.createTrack();
    this.frame = new Uint8Array(WIDTH * HEIGHT * 3 / 2);
    this.samples = new Int16Array(SAMPLE_RATE * AUDIO_FRAME_MS / 1000);
    this.phase = 0;
    this.audioSent = 0;
    this.videoSent = 0;
    this.timer = null;
  }

  start() {
    this.t0 = Date.now();
    this.timer = setInterval(() => this.tick(), AUDIO_FRAME_MS);
  }

  tick() {
    const elapsed = Date.now() - this.t0;
    // At most a few frames per tick after a stall, so a slow machine does not get bursts.
    let audioDue = Math.min(Math.floor(elapsed / AUDIO_FRAME_MS) - this.audioSent, 5);
    for (; audioDue > 0; audioDue--) this.pushAudio();
    if (Math.floor((elapsed * FPS) / 1000) >= this.videoSent) this.pushVideo();
  }

  pushAudio() {
    const step = (2 * Math.PI * 440) / SAMPLE_RATE;
    for (let i = 0; i < this.samples.length; i++) {
      this.samples[i] = Math.round(8000 * Math.sin(this.phase));
      this.phase += step;
    }
    this.phase %= 2 * Math.PI;
    this.audioSource.onData({
      samples: this.samples, sampleRate: SAMPLE_RATE, bitsPerSample: 16, channelCount: 1,
      numberOfFrames: this.samples.length,
    });
    this.audioSent += 1;
  }

  pushVideo() {
    // Y: diagonal gradient scrolling with time plus a white square moving across; U/V: a slowly
    // changing flat colour. Enough change per frame that the encoder keeps sending.
    const n = this.videoSent;
    const f = this.frame;
    const shift = (n * 4) & 0xff;
    for (let y = 0; y < HEIGHT; y++) {
      const row = y * WIDTH;
      for (let x = 0; x < WIDTH; x++) f[row + x] = (x + y + shift) & 0xff;
    }
    const size = 64;
    const bx = (n * 8) % (WIDTH - size);
    const by = (n * 3) % (HEIGHT - size);
    for (let y = by; y < by + size; y++) f.fill(235, y * WIDTH + bx, y * WIDTH + bx + size);
    const chroma = (WIDTH / 2) * (HEIGHT / 2);
    f.fill(128 + Math.round(60 * Math.sin(n / 20)), WIDTH * HEIGHT, WIDTH * HEIGHT + chroma);
    f.fill(128 + Math.round(60 * Math.cos(n / 20)), WIDTH * HEIGHT + chroma, WIDTH * HEIGHT + 2 * chroma);
    this.videoSource.onFrame({ width: WIDTH, height: HEIGHT, data: f });
    this.videoSent += 1;
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.audioTrack.stop();
    this.videoTrack.stop();
  }
}

