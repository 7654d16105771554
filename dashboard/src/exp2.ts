// @ts-nocheck
const q = new URLSearchParams(location.search);
const N = Number(q.get('n') || 1000000);
const ps = Number(q.get('ps') || 3);
const t0 = performance.now();
const x = new Float32Array(N), y = new Float32Array(N), z = new Float32Array(N);
for (let i = 0; i < N; i++) { const a = Math.random()*6.28, r = Math.sqrt(Math.random()); x[i] = Math.cos(a)*r*0.9; y[i] = Math.sin(a)*r*0.9; z[i] = i % 10; }
const t1 = performance.now();
const canvas = document.getElementById('c');
canvas.width = 800 * devicePixelRatio; canvas.height = 600 * devicePixelRatio;
const gl = canvas.getContext('webgl2', { antialias: false, premultipliedAlpha: true });
const vs = `#version 300 es
in float ax; in float ay; in float ac; uniform vec3 pal[16]; uniform float ps; out vec4 vc;
void main(){ gl_Position = vec4(ax, ay, 0., 1.); gl_PointSize = ps; vc = vec4(pal[int(ac)], 0.8); }`;
const fs = `#version 300 es
precision mediump float; in vec4 vc; out vec4 o; void main(){ vec2 d = gl_PointCoord - 0.5; if (dot(d,d) > 0.25) discard; o = vec4(vc.rgb*vc.a, vc.a); }`;
function sh(t, s) { const o = gl.createShader(t); gl.shaderSource(o, s); gl.compileShader(o); if (!gl.getShaderParameter(o, gl.COMPILE_STATUS)) throw gl.getShaderInfoLog(o); return o; }
const p = gl.createProgram(); gl.attachShader(p, sh(gl.VERTEX_SHADER, vs)); gl.attachShader(p, sh(gl.FRAGMENT_SHADER, fs)); gl.linkProgram(p); gl.useProgram(p);
for (const [name, arr] of [['ax', x], ['ay', y], ['ac', z]]) { const b = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, b); gl.bufferData(gl.ARRAY_BUFFER, arr, gl.STATIC_DRAW); const l = gl.getAttribLocation(p, name); gl.enableVertexAttribArray(l); gl.vertexAttribPointer(l, 1, gl.FLOAT, false, 0, 0); }
const pal = [0.12,0.47,0.71, 1,0.5,0.05, 0.17,0.63,0.17, 0.84,0.15,0.16, 0.58,0.4,0.74, 0.55,0.34,0.29, 0.89,0.47,0.76, 0.5,0.5,0.5, 0.74,0.74,0.13, 0.09,0.75,0.81, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0];
gl.uniform3fv(gl.getUniformLocation(p, 'pal'), new Float32Array(pal)); gl.uniform1f(gl.getUniformLocation(p, 'ps'), ps);
gl.enable(gl.BLEND); gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
gl.viewport(0, 0, canvas.width, canvas.height); gl.clearColor(0,0,0,0); gl.clear(gl.COLOR_BUFFER_BIT);
gl.drawArrays(gl.POINTS, 0, N);
const px = new Uint8Array(4); gl.readPixels(0,0,1,1,gl.RGBA,gl.UNSIGNED_BYTE,px);
const t2 = performance.now();
requestAnimationFrame(() => { window.times = { gen: t1 - t0, draw: t2 - t1, frame: performance.now() - t1 }; });
