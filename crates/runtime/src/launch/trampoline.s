# The exec trampoline (see trampoline.rs): a position-independent x86_64
# entry point that the runtime places after an ELF header in a sealed
# memfd. 0x11223344 is SYNC (the sync socket's fd) and 0x55667788 INDEX
# (the exec candidate), both patched per start; PATH (the program,
# NUL-terminated) follows the code. Regenerate CODE in trampoline.rs with
#   as trampoline.s -o t.o && objcopy -O binary -j .text t.o t.bin
.intel_syntax noprefix
.globl _start
_start:
  lea rsi, [rsp+8]              # argv
  mov rax, [rsp]
  lea rdx, [rsp+rax*8+16]       # envp = argv + argc + 1
  mov r13, rsi
  mov r14, rdx
  mov edi, 0x11223344
  mov esi, 2
  mov edx, 1
  mov eax, 72                   # fcntl(SYNC, F_SETFD, FD_CLOEXEC)
  syscall
  cmp eax, -9                   # EBADF: SYNC gone, run as an interpreter
  je again
  lea rdi, [rip+path]
  mov rsi, r13
  mov rdx, r14
  mov eax, 59                   # execve(PATH, argv, envp)
  syscall
  neg eax
  mov r15d, eax                 # errno
  sub rsp, 32
  mov dword ptr [rsp], 6
  mov dword ptr [rsp+4], 40
  mov dword ptr [rsp+8], 0x55667788
  mov [rsp+12], eax
  mov edi, 0x11223344
  mov rsi, rsp
  mov edx, 16
  mov r10d, 0x4000
  xor r8d, r8d
  xor r9d, r9d
  mov eax, 44                   # sendto(SYNC, ERROR msg, 16, MSG_NOSIGNAL)
  syscall
  test rax, rax
  jns done                      # sent: the runtime reports it
  mov edi, 2
  lea rsi, [rip+s_exec]         # else stderr: "exec PATH: errno N\n"
  mov edx, 5
  mov eax, 1
  syscall
  lea rsi, [rip+path]
  xor edx, edx
len:
  cmp byte ptr [rsi+rdx], 0
  je lend
  inc rdx
  jmp len
lend:
  mov edi, 2
  mov eax, 1
  syscall
  mov edi, 2
  lea rsi, [rip+s_errno]
  mov edx, 8
  mov eax, 1
  syscall
  lea rsi, [rsp+31]
  mov byte ptr [rsi], 10
  mov eax, r15d
  mov ecx, 10
dig:
  xor edx, edx
  div ecx
  add dl, 48
  dec rsi
  mov [rsi], dl
  test eax, eax
  jnz dig
  lea rdx, [rsp+32]
  sub rdx, rsi
  mov edi, 2
  mov eax, 1
  syscall
done:
  mov edi, 127                  # exit_group(127)
  mov eax, 231
  syscall
again:
  mov edi, 126                  # exit_group(126)
  mov eax, 231
  syscall
s_exec:
  .ascii "exec "
s_errno:
  .ascii ": errno "
path:
