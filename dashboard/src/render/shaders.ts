// GLSL of the point renderer: points (palette colour, size, filter mask, selection ring), the
// 3D cube's lines, and the image of points drawn by the CPU.

export const POINT_VS = `#version 300 es
in float aX; in float aY; in float aZ; in float aColor; in float aSize; in float aMask;
uniform mat4 uMatrix; uniform sampler2D uPalette; uniform float uPointSize; uniform float uHasSize;
uniform vec4 uDim; uniform float uAlpha; uniform float uRing;
out vec4 vColor; out float vRing;
void main() {
  gl_Position = uMatrix * vec4(aX, aY, aZ, 1.0);
  vec3 c = texelFetch(uPalette, ivec2(int(aColor), 0), 0).rgb;
  float s = uPointSize * (uHasSize > 0.5 ? mix(0.5, 3.2, aSize) : 1.0);
  bool on = aMask > 0.5;
  vColor = on ? vec4(c, uAlpha) : uDim;
  gl_PointSize = (on ? s : max(1.0, s * 0.75)) + uRing;
  vRing = uRing;
}`;

export const POINT_FS = `#version 300 es
precision mediump float;
in vec4 vColor; in float vRing; uniform vec4 uRingColor; out vec4 o;
void main() {
  vec2 d = gl_PointCoord - 0.5;
  float r = dot(d, d);
  if (r > 0.25) discard;
  vec4 c = vColor;
  if (vRing > 0.0 && r > 0.09) c = uRingColor;
  o = vec4(c.rgb * c.a, c.a);
}`;

export const LINE_VS = `#version 300 es
in vec3 aPos; uniform mat4 uMatrix; void main() { gl_Position = uMatrix * vec4(aPos, 1.0); }`;
export const LINE_FS = `#version 300 es
precision mediump float; uniform vec4 uColor; out vec4 o; void main() { o = vec4(uColor.rgb * uColor.a, uColor.a); }`;

// The CPU-drawn image (splat.ts) as one triangle over the canvas, pixel for pixel.
export const IMAGE_VS = `#version 300 es
void main() { vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2); gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0); }`;
export const IMAGE_FS = `#version 300 es
precision mediump float; uniform sampler2D uImage; out vec4 o;
void main() { o = texelFetch(uImage, ivec2(gl_FragCoord.xy), 0); }`;

export function link(gl: WebGL2RenderingContext, vs: string, fs: string): WebGLProgram {
  const p = gl.createProgram()!;
  for (const [type, src] of [
    [gl.VERTEX_SHADER, vs],
    [gl.FRAGMENT_SHADER, fs],
  ] as const) {
    const s = gl.createShader(type)!;
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s) ?? 'shader');
    gl.attachShader(p, s);
  }
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p) ?? 'link');
  return p;
}
