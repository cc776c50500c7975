// Per-routine profile of the Fréchet trace term at d = 2048 (float64), both Cholesky paths of
// Sources/DigitMetrics (one-stage: dpotrf + dsygst + dsytrd + dsterf; two-stage: dpotrf +
// dtrmm congruence + dsytrd_sy2sb + bulge chasing with LAPACK's dsb2st_kernels (1 thread)
// and CKernels' dbk_sb2st_task (1 thread, and 2 threads alternating sweeps — the schedule before
// session 5's row split, which lives only in TwoStageTridiagonal.swift) + dsterf), on covariances
// of 5000 squared uniform features. Wall and process CPU per stage.
// Build: clang -O2 -o /tmp/frechet_profile tools/frechet_profile.c Sources/CKernels/band_chase.c \
//          Sources/CKernels/kernels.c -ISources/CKernels/include \
//          -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas -lm -lpthread
// Run:   /tmp/frechet_profile [d=2048] [kd=32] [threads=2]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <cblas.h>
#include "band_chase.h"
void dpotrf_(const char*,const int*,double*,const int*,int*,size_t);
void dsygst_(const int*,const char*,const int*,double*,const int*,const double*,const int*,int*,size_t);
void dsyevd_(const char*,const char*,const int*,double*,const int*,double*,double*,const int*,int*,const int*,int*,size_t,size_t);
void dsytrd_(const char*,const int*,double*,const int*,double*,double*,double*,double*,const int*,int*,size_t);
void dsytrd_sy2sb_(const char*,const int*,const int*,double*,const int*,double*,const int*,double*,double*,const int*,int*,size_t);
void dsytrd_sb2st_(const char*,const char*,const char*,const int*,const int*,double*,const int*,double*,double*,double*,const int*,double*,const int*,int*,size_t,size_t,size_t);
void dsb2st_kernels_(const char*,const int*,const int*,const int*,const int*,const int*,const int*,const int*,const int*,double*,const int*,double*,double*,const int*,double*,size_t);
void dsterf_(const int*,double*,double*,int*);
int ilaenv_(const int*,const char*,const char*,const int*,const int*,const int*,const int*,size_t,size_t);
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static unsigned long long s;
static double rnd(){s^=s<<13;s^=s>>7;s^=s<<17;return (s>>11)*(1.0/9007199254740992.0);}
static double sumsqrt(int n,double*w){double t=0;for(int i=0;i<n;i++)if(w[i]>0)t+=sqrt(w[i]);return t;}
/* band-chasing state */
static int OWN; /* 1: CKernels' dbk_sb2st_task instead of LAPACK's dsb2st_kernels */
static int N,KD,IB,LDA,LDV; static double *AW,*V,*TAU,*WK[2];
static _Atomic long progress[2]; /* per thread: encoded (sweep<<32)|done_myid ; sweep done => myid huge */
static void task(int sweep,int myid,int tid,int*last){
  int ttype,colpt,st,ed,blk;
  if(myid==1)ttype=1; else ttype=myid%2+2;
  if(ttype==2){colpt=(myid/2)*KD+sweep; st=colpt-KD+1; ed=colpt<N?colpt:N; blk=colpt;}
  else {colpt=((myid+1)/2)*KD+sweep; st=colpt-KD+1; ed=colpt<N?colpt:N; blk=(st>=ed-1&&ed==N)?N:0;}
  int wz=0;
  if(OWN) dbk_sb2st_task(ttype,st,ed,sweep,N,KD,AW,LDA,V,TAU,WK[tid]);
  else dsb2st_kernels_("L",&wz,&ttype,&st,&ed,&sweep,&N,&KD,&IB,AW,&LDA,V,TAU,&LDV,WK[tid],1);
  *last = blk>=N-1;
}
static long enc(int sweep,int myid){return ((long)sweep<<32)|myid;}
static void* worker(void*arg){
  int tid=(int)(long)arg; 
  for(int sweep=1+tid; sweep<=N-1; sweep+=2){
    for(int myid=1;;myid++){
      if(sweep>1){ /* need (sweep-1, myid+2) done, or sweep-1 finished */
        long need=enc(sweep-1,myid+2); int o=1-tid; int spins=0;
        while(atomic_load_explicit(&progress[o],memory_order_acquire)<need){ if(++spins>1000){sched_yield();spins=0;} }
      }
      int last; task(sweep,myid,tid,&last);
      if(last){ atomic_store_explicit(&progress[tid],enc(sweep,0x7fffffff),memory_order_release); break; }
      atomic_store_explicit(&progress[tid],enc(sweep,myid),memory_order_release);
    }
  }
  return 0;
}
static void chase(double*ab,int ldab,double*d,double*e,int threads){
  LDA=2*KD+1; LDV=KD+IB;
  AW=calloc((long)LDA*N,8); V=calloc(2L*N,8); TAU=calloc(2L*N,8); WK[0]=calloc(KD+IB+16,8); WK[1]=calloc(KD+IB+16,8);
  for(int j=0;j<N;j++)for(int i=0;i<=KD;i++)AW[(long)j*LDA+i]=ab[(long)j*ldab+i];
  progress[0]=progress[1]=0;
  if(threads==1){ for(int sweep=1;sweep<=N-1;sweep++) for(int myid=1;;myid++){int last;task(sweep,myid,0,&last); if(last)break;} }
  else { pthread_t t[2]; for(long i=0;i<2;i++)pthread_create(&t[i],0,worker,(void*)i); for(int i=0;i<2;i++)pthread_join(t[i],0); }
  for(int i=0;i<N;i++)d[i]=AW[(long)i*LDA]; for(int i=0;i<N-1;i++)e[i]=AW[(long)i*LDA+1];
  free(AW);free(V);free(TAU);free(WK[0]);free(WK[1]);
}

static double cpu(){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static double W0,C0; static void tic(){W0=now();C0=cpu();}
static void toc(const char*name){printf("  %-34s wall %.3f s  cpu %.3f s\n",name,now()-W0,cpu()-C0);}
static void cov(int n,int d,double*c,unsigned long long seed){
  double*x=malloc(sizeof(double)*n*d); s=seed*2654435761ULL+88172645463325252ULL;
  for(long i=0;i<(long)n*d;i++){double u=rnd()*2-1; x[i]=u*u*10;}
  double*mu=calloc(d,8); for(int i=0;i<n;i++)for(int j=0;j<d;j++)mu[j]+=x[(long)i*d+j]; for(int j=0;j<d;j++)mu[j]/=n;
  for(int i=0;i<n;i++)for(int j=0;j<d;j++)x[(long)i*d+j]-=mu[j];
  cblas_dsyrk(CblasColMajor,CblasLower,CblasNoTrans,d,n,1.0/(n-1),x,d,0,c,d);
  for(int j=0;j<d;j++)for(int i=0;i<j;i++)c[(long)j*d+i]=c[(long)i*d+j];
  free(x);free(mu);
}
int main(int argc,char**argv){
  int d=argc>1?atoi(argv[1]):2048; KD=argc>2?atoi(argv[2]):32; int T=argc>3?atoi(argv[3]):2; N=d; IB=16; int info,it=3;
  double *s1=malloc(8L*d*d),*s2=malloc(8L*d*d),*L=malloc(8L*d*d),*A=malloc(8L*d*d),*M=malloc(8L*d*d),*w=malloc(8L*d),*e=malloc(8L*d),*tau=malloc(8L*d);
  cov(5000,d,s1,1); cov(5000,d,s2,2);
  openblas_set_num_threads(T);
  printf("d %d, kd %d, %d threads (%s)\n",d,KD,T,openblas_get_corename());
  printf("one-stage (current cholesky path):\n");
  memcpy(L,s1,8L*d*d); tic(); dpotrf_("L",&d,L,&d,&info,1); toc("dpotrf");
  memcpy(A,s2,8L*d*d); tic(); dsygst_(&it,"L",&d,A,&d,L,&d,&info,1); toc("dsygst (itype 3)");
  int lw=-1; double wq; dsytrd_("L",&d,A,&d,w,e,tau,&wq,&lw,&info,1); lw=(int)wq; double*work=malloc(8L*lw);
  tic(); dsytrd_("L",&d,A,&d,w,e,tau,work,&lw,&info,1); toc("dsytrd (inside dsyevd N)"); free(work);
  openblas_set_num_threads(1); tic(); dsterf_(&d,w,e,&info); toc("dsterf"); openblas_set_num_threads(T);
  double ref=sumsqrt(d,w);
  printf("two-stage:\n");
  memcpy(L,s1,8L*d*d); tic(); dpotrf_("L",&d,L,&d,&info,1); toc("dpotrf");
  tic(); memcpy(M,s2,8L*d*d);
  cblas_dtrmm(CblasColMajor,CblasRight,CblasLower,CblasNoTrans,CblasNonUnit,d,d,1,L,d,M,d);
  for(int jb=0;jb<d;jb+=256){int b=d-jb<256?d-jb:256; cblas_dtrmm(CblasColMajor,CblasLeft,CblasLower,CblasTrans,CblasNonUnit,d-jb,b,1,L+(long)jb*d+jb,d,M+(long)jb*d+jb,d);}
  toc("congruence (dtrmm + block-column dtrmm)");
  int ldab=KD+1; double*ab=calloc((long)ldab*d,8);
  lw=-1; dsytrd_sy2sb_("L",&d,&KD,M,&d,ab,&ldab,tau,&wq,&lw,&info,1); lw=(int)wq; work=malloc(8L*lw);
  tic(); dsytrd_sy2sb_("L",&d,&KD,M,&d,ab,&ldab,tau,work,&lw,&info,1); toc("dsytrd_sy2sb"); free(work);
  openblas_set_num_threads(1);
  double *w1=malloc(8L*d),*e1=malloc(8L*d);
  tic(); chase(ab,ldab,w1,e1,1); toc("bulge chasing (LAPACK kernel), 1 thread");
  OWN=1;
  tic(); chase(ab,ldab,w,e,1); toc("bulge chasing (dbk_sb2st_task), 1 thread");
  if(T>1){ tic(); chase(ab,ldab,w,e,2); toc("bulge chasing (dbk_sb2st_task), 2 threads"); }
  dsterf_(&d,w1,e1,&info); double vl=sumsqrt(d,w1);
  tic(); dsterf_(&d,w,e,&info); toc("dsterf");
  openblas_set_num_threads(T);
  double v=sumsqrt(d,w);
  printf("sum sqrt eig: one-stage %.15g two-stage %.15g rel %.2e (LAPACK chase kernel: rel %.2e)\n",ref,v,fabs(v-ref)/ref,fabs(vl-ref)/ref);
  return 0;
}
