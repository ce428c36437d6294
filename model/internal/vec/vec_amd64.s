#include "textflag.h"

// func dotRowsAVX2(m, q, out *float32, rows, d int)
TEXT ·dotRowsAVX2(SB), NOSPLIT, $0-40
	MOVQ m+0(FP), SI
	MOVQ q+8(FP), DX
	MOVQ out+16(FP), DI
	MOVQ rows+24(FP), CX
	MOVQ d+32(FP), BX
	SHLQ $2, BX            // row width in bytes

row:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ   AX, AX
	MOVQ   BX, R8
	CMPQ   R8, $64
	JLT    tail8

col16:                  // two independent accumulators, 16 floats a step
	VMOVUPS     (SI)(AX*1), Y2
	VMOVUPS     32(SI)(AX*1), Y3
	VFMADD231PS (DX)(AX*1), Y2, Y0
	VFMADD231PS 32(DX)(AX*1), Y3, Y1
	ADDQ        $64, AX
	SUBQ        $64, R8
	CMPQ        R8, $64
	JGE         col16

tail8:
	TESTQ R8, R8
	JZ    reduce
	VMOVUPS     (SI)(AX*1), Y2
	VFMADD231PS (DX)(AX*1), Y2, Y0
	ADDQ        $32, AX
	SUBQ        $32, R8
	JMP         tail8

reduce:
	VADDPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, (DI)
	ADDQ         BX, SI
	ADDQ         $4, DI
	DECQ         CX
	JNZ          row

	VZEROUPPER
	RET
