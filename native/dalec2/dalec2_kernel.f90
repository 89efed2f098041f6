!> DALEC2 kernel: forward run, tangent linear and adjoint, each over the whole time loop.
!>
!> These routines are what Python calls (wrapped by f90wrap): dalec2_prepare once per set of
!> drivers, then dalec2_run, dalec2_tangent, dalec2_adjoint and dalec2_end_state (the pools
!> after the last step); the physics of a step is in dalec2_core. Common arguments:
!>
!>   n            number of steps
!>   theta(23)    parameters p0 .. p16 and the 6 initial pools (spec section 4 order)
!>   met(n, 11)   drivers by column: doy, elapsed (days since start), t_min, t_max, t_mean
!>                (degC), sw (MJ m-2 d-1), dt (days), co2 (ppm), then three columns that
!>                dalec2_prepare fills once per model (day length, g_c, kappa)
!>   lat_rad      latitude, radians
!>   offset_mode  phenology offset argument: 0 = P16 (1.001, c_lspan), 1 = CARDAMOM
!>   psi_d        leaf-soil water-potential difference, MPa (P16 -2.5, CARDAMOM -2.0)
!>   temp_mode    temperature in E_T: 0 = t_mean, 1 = (t_min + t_max)/2
!>   clock_mode   phenology clock: 0 = doy, 1 = elapsed
!>
!>   n_sel        number of selected outputs (1..15)
!>   sel(n_sel)   the selected outputs, by number: 1 gpp, 2 ra, 3 rh, 4 rtot, 5 nee, 6 lai,
!>                7 c_lab, 8 c_fol, 9 c_roo, 10 c_woo, 11 c_lit, 12 c_som, 13 day_length
!>                (hours), 14 phi_onset, 15 phi_fall (daily labile-release and leaf-fall
!>                fractions Phi_on, Phi_off)
!>
!> Only the selected outputs are stored: out(n, n_sel) (and dout, out_bar) has one column per
!> entry of sel, in its order; row t (1-based) holds the fluxes of step t computed from the
!> pools at its start, those pools, and the step's day length and phenology fractions. Every
!> step is computed whatever the selection (the pools carry the state), so the values are the
!> same as with all 15 selected.
!>
!> Status: ierr = 0 success; 1 a pool is negative or non-finite after step fail_step (0-based),
!> fail_index = pool (1..6); 2 invalid parameter fail_index (1-based: non-finite value,
!> c_lspan <= 1, c_ronset, c_rfall or c_lma <= 0, negative initial pool); 3 non-finite flux at
!> step fail_step, fail_index = output number (1..5); 4 invalid switch value or selection. Per step, a non-finite GPP is reported first, then a bad
!> pool, then another non-finite flux. On failure the outputs are incomplete and fail_step is
!> -1 unless a step failed. The tangent and the adjoint return the same status as the run.
module dalec2_kernel
  use dalec2_core, only: dp, n_par, n_out, n_met, ok, err_pool, err_flux, err_setup, &
       config_t, pheno_t, step_t, make_config, check_theta, make_pheno, step_values, &
       step_tangent, step_adjoint, is_finite, driver_terms
  implicit none
  private
  public :: dalec2_prepare, dalec2_run, dalec2_tangent, dalec2_adjoint, dalec2_end_state

contains

  !> Fill the driver-only columns 9-11 of met (day length, g_c, kappa) for latitude lat_rad
  !> and psi_d; call once per set of drivers, before the runs. ierr = err_setup on bad input.
  pure subroutine dalec2_prepare(n, met, lat_rad, psi_d, ierr)
    integer, intent(in) :: n
    real(dp), intent(inout) :: met(n, 11)
    real(dp), intent(in) :: lat_rad, psi_d
    integer, intent(out) :: ierr
    type(config_t) :: cfg
    call make_config(lat_rad, 0, psi_d, 0, 0, cfg, ierr)
    if (ierr /= ok) return
    call driver_terms(met, cfg)
  end subroutine dalec2_prepare

  !> Common setup: switches, selection and parameter checks, phenology constants.
  pure subroutine setup(theta, lat_rad, offset_mode, psi_d, temp_mode, clock_mode, sel, cfg, &
       ph, ierr, fail_index)
    real(dp), intent(in) :: theta(n_par), lat_rad, psi_d
    integer, intent(in) :: offset_mode, temp_mode, clock_mode, sel(:)
    type(config_t), intent(out) :: cfg
    type(pheno_t), intent(out) :: ph
    integer, intent(out) :: ierr, fail_index
    fail_index = 0
    call make_config(lat_rad, offset_mode, psi_d, temp_mode, clock_mode, cfg, ierr)
    if (ierr /= ok) return
    if (size(sel) < 1 .or. any(sel < 1) .or. any(sel > n_out)) then
       ierr = err_setup
       return
    end if
    call check_theta(theta, ierr, fail_index)
    if (ierr /= ok) return
    call make_pheno(theta, cfg, ph)
  end subroutine setup

  !> Status after step t (1-based) with step values s: non-finite GPP, then a bad pool, then
  !> another non-finite flux (a bad pool is the more telling report of a loss overflow).
  pure subroutine check_step(t, s, ierr, fail_step, fail_index)
    integer, intent(in) :: t
    type(step_t), intent(in) :: s
    integer, intent(inout) :: ierr, fail_step, fail_index
    integer :: j
    if (.not. is_finite(s%y(1))) then
       ierr = err_flux
       fail_step = t - 1
       fail_index = 1
       return
    end if
    do j = 1, 6
       if (.not. (s%cnew(j) >= 0.0_dp .and. is_finite(s%cnew(j)))) then
          ierr = err_pool
          fail_step = t - 1
          fail_index = j
          return
       end if
    end do
    do j = 2, 5
       if (.not. is_finite(s%y(j))) then
          ierr = err_flux
          fail_step = t - 1
          fail_index = j
          return
       end if
    end do
  end subroutine check_step

  !> Forward run over n steps: the selected outputs.
  pure subroutine dalec2_run(n, theta, met, lat_rad, offset_mode, psi_d, temp_mode, &
       clock_mode, n_sel, sel, out, ierr, fail_step, fail_index)
    integer, intent(in) :: n, n_sel
    real(dp), intent(in) :: theta(23), met(n, 11), lat_rad, psi_d
    integer, intent(in) :: offset_mode, temp_mode, clock_mode, sel(n_sel)
    real(dp), intent(out) :: out(n, n_sel)
    integer, intent(out) :: ierr, fail_step, fail_index
    type(config_t) :: cfg
    type(pheno_t) :: ph
    real(dp) :: c_end(6)

    fail_step = -1
    call setup(theta, lat_rad, offset_mode, psi_d, temp_mode, clock_mode, sel, cfg, ph, &
         ierr, fail_index)
    if (ierr /= ok) return
    call forward(n, theta, met, cfg, ph, n_sel, sel, out, c_end, ierr, fail_step, fail_index)
  end subroutine dalec2_run

  !> The pools after the last of the n steps, c_end(6) (C_lab .. C_som, g m-2): the initial
  !> pools theta(18:23) of a run that continues this one. Same status as dalec2_run (a failing
  !> step fails both); c_end is undefined unless ierr = 0. Nothing else is stored.
  pure subroutine dalec2_end_state(n, theta, met, lat_rad, offset_mode, psi_d, temp_mode, &
       clock_mode, c_end, ierr, fail_step, fail_index)
    integer, intent(in) :: n
    real(dp), intent(in) :: theta(23), met(n, 11), lat_rad, psi_d
    integer, intent(in) :: offset_mode, temp_mode, clock_mode
    real(dp), intent(out) :: c_end(6)
    integer, intent(out) :: ierr, fail_step, fail_index
    type(config_t) :: cfg
    type(pheno_t) :: ph
    integer :: sel(1)
    real(dp) :: no_out(1)

    fail_step = -1
    sel = 7                                  ! a valid selection for setup; none is stored
    call setup(theta, lat_rad, offset_mode, psi_d, temp_mode, clock_mode, sel, cfg, ph, &
         ierr, fail_index)
    if (ierr /= ok) return
    call forward(n, theta, met, cfg, ph, 0, sel, no_out, c_end, ierr, fail_step, fail_index)
  end subroutine dalec2_end_state

  !> The time loop of a forward run after setup: the selected outputs out(n, n_sel) (n_sel may
  !> be 0) and the pools after the last step, c_end; stops at the first failing step.
  pure subroutine forward(n, theta, met, cfg, ph, n_sel, sel, out, c_end, ierr, fail_step, &
       fail_index)
    integer, intent(in) :: n, n_sel, sel(n_sel)
    real(dp), intent(in) :: theta(23), met(n, 11)
    type(config_t), intent(in) :: cfg
    type(pheno_t), intent(in) :: ph
    real(dp), intent(inout) :: out(n, n_sel)
    real(dp), intent(out) :: c_end(6)
    integer, intent(inout) :: ierr, fail_step, fail_index
    type(step_t) :: s
    real(dp) :: c(6)
    integer :: t, k

    c = theta(18:23)
    do t = 1, n
       call step_values(theta, ph, cfg, c, met(t, :), s)
       do k = 1, n_sel
          out(t, k) = s%y(sel(k))
       end do
       call check_step(t, s, ierr, fail_step, fail_index)
       if (ierr /= ok) return
       c = s%cnew
    end do
    c_end = c
  end subroutine forward

  !> Tangent linear: the selected outputs' derivative dout along dtheta, in one forward sweep
  !> (values and derivatives together).
  pure subroutine dalec2_tangent(n, theta, dtheta, met, lat_rad, offset_mode, psi_d, &
       temp_mode, clock_mode, n_sel, sel, dout, ierr, fail_step, fail_index)
    integer, intent(in) :: n, n_sel
    real(dp), intent(in) :: theta(23), dtheta(23), met(n, 11), lat_rad, psi_d
    integer, intent(in) :: offset_mode, temp_mode, clock_mode, sel(n_sel)
    real(dp), intent(out) :: dout(n, n_sel)
    integer, intent(out) :: ierr, fail_step, fail_index
    type(config_t) :: cfg
    type(pheno_t) :: ph
    type(step_t) :: s
    real(dp) :: c(6), dc(6), dcnew(6), dy(n_out)
    integer :: t, k

    fail_step = -1
    call setup(theta, lat_rad, offset_mode, psi_d, temp_mode, clock_mode, sel, cfg, ph, &
         ierr, fail_index)
    if (ierr /= ok) return
    c = theta(18:23)
    dc = dtheta(18:23)
    do t = 1, n
       call step_values(theta, ph, cfg, c, met(t, :), s)
       call step_tangent(theta, dtheta, c, dc, s, dcnew, dy)
       do k = 1, n_sel
          dout(t, k) = dy(sel(k))
       end do
       call check_step(t, s, ierr, fail_step, fail_index)
       if (ierr /= ok) return
       c = s%cnew
       dc = dcnew
    end do
  end subroutine dalec2_tangent

  !> Adjoint (hand-derived, see dalec2_core%step_adjoint): theta_bar = sum over the selected
  !> outputs and the steps of out_bar * d(out)/d(theta); out_bar(n, n_sel) has one column
  !> per entry of sel (the other outputs have zero sensitivity). pools(n, 6) must be the pool
  !> trajectory of the forward run at theta (outputs 7-12 of dalec2_run, status ok). One
  !> backward sweep recomputes each step's local partials from those pools and propagates
  !> the adjoint pools, so a gradient after a run costs about one more run, independent of
  !> n_par.
  pure subroutine dalec2_adjoint(n, theta, met, lat_rad, offset_mode, psi_d, temp_mode, &
       clock_mode, pools, n_sel, sel, out_bar, theta_bar, ierr, fail_step, fail_index)
    integer, intent(in) :: n, n_sel
    real(dp), intent(in) :: theta(23), met(n, 11), lat_rad, psi_d, pools(n, 6)
    real(dp), intent(in) :: out_bar(n, n_sel)
    integer, intent(in) :: offset_mode, temp_mode, clock_mode, sel(n_sel)
    real(dp), intent(out) :: theta_bar(23)
    integer, intent(out) :: ierr, fail_step, fail_index
    type(config_t) :: cfg
    type(pheno_t) :: ph
    type(step_t) :: s
    real(dp) :: c(6), cbar(6), cnbar(6), ybar(n_out)
    integer :: t, k

    theta_bar = 0.0_dp
    fail_step = -1
    call setup(theta, lat_rad, offset_mode, psi_d, temp_mode, clock_mode, sel, cfg, ph, &
         ierr, fail_index)
    if (ierr /= ok) return

    ! backward sweep: cnbar = adjoint of the pools at the end of step t
    cnbar = 0.0_dp
    do t = n, 1, -1
       c = pools(t, :)
       call step_values(theta, ph, cfg, c, met(t, :), s)
       ybar = 0.0_dp
       do k = 1, n_sel
          ybar(sel(k)) = ybar(sel(k)) + out_bar(t, k)
       end do
       call step_adjoint(theta, c, s, ybar, cnbar, cbar, theta_bar)
       cnbar = cbar
    end do
    theta_bar(18:23) = theta_bar(18:23) + cnbar
  end subroutine dalec2_adjoint

end module dalec2_kernel
