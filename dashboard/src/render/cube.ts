// The 3D scatter's box: the twelve edges of the [-1, 1] cube the data is fitted into, drawn as
// lines in normalised space (so it bypasses the data normaliser).
import { LINE_FS, LINE_VS, link } from './shaders';

export class Cube {
  private program: WebGLProgram;
  private buffer: WebGLBuffer;
  private vao: WebGLVertexArrayObject;

  constructor(private readonly gl: WebGL2RenderingContext) {
    this.program = link(gl, LINE_VS, LINE_FS);
    this.buffer = gl.createBuffer()!;
    this.vao = gl.createVertexArray()!;
  }

  draw(matrix: Float32Array, color: [number, number, number, number]): void {
    const gl = this.gl;
    const c = [-1, 1];
    const v: number[] = [];
    for (const a of c) for (const b of c) {
      v.push(-1, a, b, 1, a, b, a, -1, b, a, 1, b, a, b, -1, a, b, 1);
    }
    gl.useProgram(this.program);
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buffer);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array(v), gl.STATIC_DRAW);
    const loc = gl.getAttribLocation(this.program, 'aPos');
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 3, gl.FLOAT, false, 0, 0);
    gl.uniformMatrix4fv(gl.getUniformLocation(this.program, 'uMatrix'), false, matrix);
    gl.uniform4fv(gl.getUniformLocation(this.program, 'uColor'), color);
    gl.drawArrays(gl.LINES, 0, v.length / 3);
    gl.bindVertexArray(null);
  }
}
