import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';

export interface AuthProps {
  readonly removalPolicy: RemovalPolicy;
}

/**
 * Operator and dashboard identities: an admin-managed Cognito user pool (no self sign-up, strong
 * passwords, TOTP MFA required) and one public client for the dashboard. Tokens are verified by the
 * functions against the pool's JWKS.
 */
export class Auth extends Construct {
  public readonly userPool: cognito.UserPool;
  public readonly client: cognito.UserPoolClient;
  /** The `iss` claim of the pool's tokens. */
  public readonly issuerUrl: string;
  public readonly jwksUrl: string;

  constructor(scope: Construct, id: string, props: AuthProps) {
    super(scope, id);
    this.userPool = new cognito.UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      // Plus adds threat protection (compromised credentials, adaptive authentication) to the pool
      // that guards operator access; it is billed per monthly active user, a handful here.
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      removalPolicy: props.removalPolicy,
      deletionProtection: props.removalPolicy === RemovalPolicy.RETAIN,
    });
    this.client = this.userPool.addClient('DashboardClient', {
      generateSecret: false,
      authFlows: { userSrp: true, userPassword: true },
      preventUserExistenceErrors: true,
      // The dashboard signs in with SRP against the pool; there is no hosted UI or OAuth redirect.
      disableOAuth: true,
    });

    this.issuerUrl = `https://cognito-idp.${Stack.of(this).region}.amazonaws.com/${this.userPool.userPoolId}`;
    this.jwksUrl = `${this.issuerUrl}/.well-known/jwks.json`;
  }

  /** The audience the functions expect in tokens: the dashboard client id. */
  get audience(): string {
    return this.client.userPoolClientId;
  }
}
