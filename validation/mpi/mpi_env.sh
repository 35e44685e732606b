# mpi_env.sh — environment for running Open MPI 4.1 in the tests (sourced; same settings as the
# project's infra notes): mpirun may run as root, the ob1 PML over shared memory/TCP without
# probing InfiniBand/UCX transports (a spawn costs ~0.05 s instead of ~0.27 s), more ranks than
# cores (4 ranks on a 2-core CI machine), and every socket on loopback.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_pml=${OMPI_MCA_pml:-ob1}
export OMPI_MCA_btl=${OMPI_MCA_btl:-self,vader,tcp}
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}
export OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo} OMPI_MCA_btl_tcp_if_include=${OMPI_MCA_btl_tcp_if_include:-lo}
# ranks waiting in a collective yield the core to the ones still computing (oversubscribed)
export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
